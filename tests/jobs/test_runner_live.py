"""The runner against a database of its own (not the test's rolled-back transaction), so that
separate connections really are separate, on SQLite and PostgreSQL alike:

- runners racing for queued jobs each get different ones (the guarded claim);
- progress written while the job's own transaction is open is visible to the job page's
  connection (on SQLite while the job reads: the write comes from a second connection);
- a job taken back from its runner meanwhile does not commit its work.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select, update

from app.core.db import begin_write_transaction, db_session, get_engine
from app.jobs import runner as job_runner
from app.jobs.models import BackgroundJob, JobState
from app.jobs.runner import JobKind, Progress, begin_read_transaction, run_due
from app.jobs.services import claim_next, enqueue
from app.org.models import Unit, UnitKind
from app.org.services import create_unit
from tests.conftest import build_app, migrate


@pytest.fixture(scope="module")
def live_app(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("jobs-live-uploads")))
    migrate(application)
    yield application
    get_engine(application).dispose()


@pytest.fixture(autouse=True)
def _empty_job_table(live_app: Flask) -> Iterator[None]:
    yield
    with live_app.app_context():
        db_session.execute(delete(BackgroundJob))
        db_session.execute(delete(Unit))
        db_session.commit()


def _queue(app: Flask, kind: str, count: int = 1) -> list[int]:
    with app.app_context():
        jobs = [enqueue(kind, {}, created_by=None) for _ in range(count)]
        db_session.flush()
        ids = [job.id for job in jobs]
        db_session.commit()
    return ids


def _read_job(app: Flask, job_id: int) -> Any:
    """The job row as another connection sees it now: the job page's, a GET that only reads."""
    with get_engine(app).connect().execution_options(sqlite_begin="DEFERRED") as connection:
        return connection.execute(select(BackgroundJob.__table__).where(BackgroundJob.id == job_id)).one()


def test_racing_runners_each_take_different_jobs(live_app: Flask) -> None:
    ids = _queue(live_app, "test.noop", 24)
    taken: dict[int, list[str]] = defaultdict(list)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def take(name: str) -> None:
        try:
            with live_app.app_context():
                start.wait()
                while (job_id := claim_next(name)) is not None:
                    db_session.commit()
                    taken[job_id].append(name)
                db_session.commit()
        except BaseException as error:
            errors.append(error)
        finally:
            db_session.remove()

    threads = [threading.Thread(target=take, args=(f"runner-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(taken) == sorted(ids)
    assert all(len(names) == 1 for names in taken.values()), {k: v for k, v in taken.items() if len(v) > 1}
    with live_app.app_context():
        rows = db_session.execute(select(BackgroundJob.id, BackgroundJob.claimed_by, BackgroundJob.state)).all()
        assert {row.id: row.claimed_by for row in rows} == {job_id: names[0] for job_id, names in taken.items()}
        assert {row.state for row in rows} == {JobState.RUNNING}


def test_progress_is_visible_while_the_job_is_still_working(live_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int, int]] = []

    def handler(job: BackgroundJob, progress: Progress) -> dict[str, Any]:
        begin_read_transaction()  # a long check, only reading (as the staff import does)
        db_session.scalar(select(Unit.id).limit(1))
        progress.phase("checking")
        progress(10, 10)
        row = _read_job(live_app, job.id)
        seen.append((row.phase, row.progress_done, row.progress_total))
        db_session.commit()
        begin_write_transaction()
        create_unit("LIVE1", "課", UnitKind.DEPARTMENT, None)
        row = _read_job(live_app, job.id)  # the work is not visible before the end
        seen.append((row.state, 0, 0))
        return {"ok": True}

    monkeypatch.setitem(job_runner.KINDS, "test.progress", JobKind(handler, "org/_import_job_result.html", lambda: "t"))
    [job_id] = _queue(live_app, "test.progress")
    with live_app.app_context():
        assert run_due("runner-live") == [job_id]
    assert seen == [("checking", 10, 10), ("running", 0, 0)]
    row = _read_job(live_app, job_id)
    assert row.state == "succeeded" and row.result == {"ok": True}
    with live_app.app_context():
        assert db_session.scalar(select(Unit.code).where(Unit.code == "LIVE1")) == "LIVE1"


def test_a_job_taken_back_meanwhile_does_not_commit_its_work(live_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(job: BackgroundJob, progress: Progress) -> dict[str, Any]:
        # Another scheduler, thinking this runner dead, fails the job (app/jobs/services.recover_stale).
        with get_engine(live_app).begin() as connection:
            connection.execute(update(BackgroundJob.__table__).where(BackgroundJob.id == job.id)
                               .values(state="failed", result={"reason": "interrupted"}))
        create_unit("LOST1", "課", UnitKind.DEPARTMENT, None)
        return {"ok": True}

    monkeypatch.setitem(job_runner.KINDS, "test.lost", JobKind(handler, "org/_import_job_result.html", lambda: "t"))
    [job_id] = _queue(live_app, "test.lost")
    with live_app.app_context():
        run_due("runner-live")
        assert db_session.scalar(select(Unit.code).where(Unit.code == "LOST1")) is None
    row = _read_job(live_app, job_id)
    assert row.state == "failed" and row.result == {"reason": "interrupted"}
