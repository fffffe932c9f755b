"""The job state machine (drawn in app/jobs/models.py): each move is one guarded UPDATE.

- `enqueue` adds a queued row (one per `dedupe_key`: a second request for the same work gets the
  first job back).
- `claim_next` takes the oldest queued job for a runner: one `UPDATE … WHERE state = 'queued'`,
  so of two runners only one gets it (the other's UPDATE matches no row).
- `report_progress` moves the counters of a running job the runner still holds, in a session
  of the caller's choosing (the runner uses a short transaction of its own, so the job page sees
  progress while the job's own transaction is still open).
- `finish` and `fail` end a running job held by the runner; `finish` goes in the same
  transaction as the job's work, so the work commits only if the runner still held the job.
- `recover_stale` fails running jobs whose runner stopped reporting (it died): their work, one
  transaction, was rolled back with it.

Services flush or execute; the caller (the runner, a view) commits.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.jobs.models import BackgroundJob, JobState

if TYPE_CHECKING:  # org comes after this package; the mapper finds Employee by name
    from app.org.models import Employee


def enqueue(kind: str, payload: dict[str, Any], *, created_by: Employee | None,
            dedupe_key: str | None = None, at: datetime | None = None) -> BackgroundJob:
    """Queue a job, or return the job already queued for `dedupe_key` (a double submit)."""
    if dedupe_key is not None:
        existing = db_session.scalar(select(BackgroundJob).where(BackgroundJob.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    job = BackgroundJob(kind=kind, state=JobState.QUEUED, dedupe_key=dedupe_key, payload=payload,
                        created_by_id=created_by.id if created_by is not None else None,
                        created_at=at or now(), phase="", progress_done=0, progress_total=0, message="")
    try:
        with db_session.begin_nested():
            db_session.add(job)
    except IntegrityError:  # the same work queued by a request racing this one
        existing = db_session.scalar(select(BackgroundJob).where(BackgroundJob.dedupe_key == dedupe_key))
        if existing is None:
            raise
        return existing
    return job


def claim_next(worker: str, at: datetime | None = None) -> int | None:
    """Take the oldest queued job for `worker`: its id, or None when there is none (or another
    runner took it first)."""
    at = at or now()
    pick = select(BackgroundJob.id).where(BackgroundJob.state == JobState.QUEUED).order_by(BackgroundJob.id).limit(1)
    if db_session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)  # a second runner takes the next job, not a wait
    return db_session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == pick.scalar_subquery(), BackgroundJob.state == JobState.QUEUED)
        .values(state=JobState.RUNNING, claimed_by=worker, claimed_at=at, started_at=at, heartbeat_at=at)
        .returning(BackgroundJob.id)
        .execution_options(synchronize_session=False)
    ).scalar()


def claim(job_id: int, worker: str, at: datetime | None = None) -> bool:
    """Take one given queued job (the same guarded move as `claim_next`)."""
    at = at or now()
    return rows_changed(db_session.execute(
        update(BackgroundJob).where(BackgroundJob.id == job_id, BackgroundJob.state == JobState.QUEUED)
        .values(state=JobState.RUNNING, claimed_by=worker, claimed_at=at, started_at=at, heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )) == 1


def _held(job_id: int, worker: str) -> list[Any]:
    return [BackgroundJob.id == job_id, BackgroundJob.state == JobState.RUNNING, BackgroundJob.claimed_by == worker]


def report_progress(progress_session: Session, job_id: int, worker: str, *, done: int, total: int,
                    phase: str | None = None, at: datetime | None = None) -> bool:
    """Record how far a running job is (and renew its heartbeat). False if the runner lost it."""
    values: dict[str, Any] = {"progress_done": max(done, 0), "progress_total": max(total, 0),
                              "heartbeat_at": at or now()}
    if phase is not None:
        values["phase"] = phase
    return rows_changed(progress_session.execute(
        update(BackgroundJob).where(*_held(job_id, worker)).values(**values)
        .execution_options(synchronize_session=False)
    )) == 1


def finish(job_id: int, worker: str, result: dict[str, Any], at: datetime | None = None) -> bool:
    """Mark the job succeeded with its result. False (do not commit the work!) if the runner no
    longer holds it."""
    return rows_changed(db_session.execute(
        update(BackgroundJob).where(*_held(job_id, worker))
        .values(state=JobState.SUCCEEDED, result=result, finished_at=at or now(), phase="done")
        .execution_options(synchronize_session=False)
    )) == 1


def fail(job_id: int, worker: str, message: str, result: dict[str, Any] | None = None,
         at: datetime | None = None) -> bool:
    """Mark the job failed: `message` for the log, `result` for the page."""
    return rows_changed(db_session.execute(
        update(BackgroundJob).where(*_held(job_id, worker))
        .values(state=JobState.FAILED, message=message[:500], result=result, finished_at=at or now())
        .execution_options(synchronize_session=False)
    )) == 1


def recover_stale(at: datetime, ttl: timedelta) -> int:
    """Fail running jobs whose heartbeat is older than `ttl`: their runner stopped, and the work,
    done in one transaction, went with it."""
    return rows_changed(db_session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.state == JobState.RUNNING, BackgroundJob.heartbeat_at < at - ttl)
        .values(state=JobState.FAILED, finished_at=at, message="the runner stopped (interrupted); nothing was applied",
                result={"reason": "interrupted"})
        .execution_options(synchronize_session=False)
    ))
