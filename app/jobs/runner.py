"""The job runner: takes queued jobs one at a time and runs the handler registered for their kind.

It runs as a job of the scheduler process (app/core/scheduler.py, every JOBS_POLL_SECONDS, behind the
scheduler's lease) and as the one-shot `flask jobs run-due`. A handler does its work in the
runner's `db_session` and returns the result; the runner marks the job succeeded in the same
transaction and commits, so the work and "succeeded" land together or not at all. A handler
refuses with `JobFailed`: everything it wrote is rolled back and the job is marked failed with
the reason.

Progress goes through `Progress`, a short transaction on a connection of its own, so the job
page sees it while the handler's transaction is still open. On SQLite that only works while the
handler reads: a handler does its long reading (checking a file) in a read transaction
(`begin_read_transaction`), reporting progress, and then writes in one short write transaction
without reporting (a second connection would wait for the handler's write lock).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.clock import now
from app.core.db import db_session
from app.jobs import services
from app.jobs.models import BackgroundJob

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """A handler's refusal: nothing it did is kept; `result` tells the page why."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result or {}


class Progress:
    """Reports a running job's progress, at most every `interval` seconds (and always at the end),
    in a transaction of its own. A failed report is logged and skipped: progress is a courtesy."""

    def __init__(self, job_id: int, worker: str, *, interval: float = 0.5) -> None:
        self.job_id, self.worker, self.interval = job_id, worker, interval
        self._last = 0.0

    def phase(self, name: str, *, done: int = 0, total: int = 0) -> None:
        self._write(done, total, name)

    def __call__(self, done: int, total: int) -> None:
        if done >= total or time.monotonic() - self._last >= self.interval:
            self._write(done, total, None)

    def _write(self, done: int, total: int, phase: str | None) -> None:
        self._last = time.monotonic()
        # The app's bind: the engine (a connection of its own), or in the tests the one connection
        # every session shares (then a savepoint on it).
        try:
            with Session(bind=current_app.extensions["manabi.bind"],
                         join_transaction_mode="create_savepoint") as progress_session:
                services.report_progress(progress_session, self.job_id, self.worker, done=done, total=total,
                                         phase=phase)
                progress_session.commit()
        except OperationalError:
            log.warning("job %s: progress not recorded", self.job_id, exc_info=True)


Handler = Callable[[BackgroundJob, Progress], dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    handler: Handler
    result_template: str  # the part of the job page that shows the result
    title: Callable[[], str]  # the job page's heading, in the reader's language
    cleanup: Callable[[dict[str, Any]], None] | None = None  # given the payload once the job ended, however


KINDS: dict[str, JobKind] = {}


def register(kind: str, job_kind: JobKind) -> None:
    KINDS[kind] = job_kind


def begin_read_transaction() -> None:
    """Start the current transaction as a reader (BEGIN DEFERRED on SQLite; outside requests the
    default is to take the write lock first, app/core/db.py), so progress reports from the runner's
    second connection can commit meanwhile (WAL lets one writer beside readers). The transaction
    must only read: commit it before writing, and write in a new one."""
    bind = db_session.get_bind()
    if bind.dialect.name != "sqlite" or db_session().in_transaction():
        return
    db_session.connection(execution_options={"sqlite_begin": "DEFERRED"})


def stale_after() -> timedelta:
    return timedelta(seconds=current_app.config["JOBS_STALE_SECONDS"])


def run_due(worker: str, *, at: datetime | None = None, limit: int = 20) -> list[int]:
    """Fail jobs whose runner died, then run queued jobs one after another until none is left
    (at most `limit`). Returns the ids of the jobs run. Commits."""
    recovered = services.recover_stale(at or now(), stale_after())
    db_session.commit()
    if recovered:
        log.warning("failed %s job(s) whose runner had stopped", recovered)
    ran: list[int] = []
    while len(ran) < limit:
        job_id = services.claim_next(worker)
        db_session.commit()
        if job_id is None:
            break
        run_claimed(job_id, worker)
        ran.append(job_id)
    return ran


def run_claimed(job_id: int, worker: str) -> None:
    """Run one job this worker has claimed, and end it (succeeded or failed). Commits."""
    job = db_session.get(BackgroundJob, job_id)
    assert job is not None, job_id
    kind_name, payload = job.kind, dict(job.payload)  # read once: a rollback below expires `job`
    kind = KINDS.get(kind_name)
    db_session.commit()  # the handler starts with no transaction open (on SQLite, no lock held)
    progress = Progress(job_id, worker)
    outcome = "failed"
    try:
        if kind is None:
            raise JobFailed(f"no handler for jobs of kind {kind_name!r}", {"reason": "error"})
        with force_locale(payload.get("locale") or current_app.config["BABEL_DEFAULT_LOCALE"]):
            result = kind.handler(job, progress)
        if not services.finish(job_id, worker, result):
            # Taken back as stale while it ran: its work must not land under someone else's job.
            db_session.rollback()
            log.error("job %s: lost its claim before it finished; its work was rolled back", job_id)
            return
        db_session.commit()
        outcome = "succeeded"
    except JobFailed as failure:
        db_session.rollback()
        services.fail(job_id, worker, failure.message, failure.result)
        db_session.commit()
    except Exception as error:
        log.exception("job %s (%s) failed", job_id, kind_name)
        db_session.rollback()
        services.fail(job_id, worker, f"{type(error).__name__}: {error}", {"reason": "error"})
        db_session.commit()
    finally:
        if kind is not None and kind.cleanup is not None:
            try:
                kind.cleanup(payload)
            except OSError:
                log.warning("job %s: cleanup failed", job_id, exc_info=True)
    log.info("job %s (%s) %s", job_id, kind_name, outcome)
