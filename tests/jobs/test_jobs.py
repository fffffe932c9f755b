"""The job table and its runner (app/jobs): guarded claims, progress, the end states, the job page.

Jobs of made-up kinds exercise the machinery; the staff import, the one real kind so far, has its
own tests (tests/org/test_import_views.py).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.core.clock import now
from app.core.db import db_session
from app.jobs import runner as job_runner
from app.jobs.models import BackgroundJob, JobState
from app.jobs.runner import JobFailed, JobKind, Progress, run_due
from app.jobs.services import claim, claim_next, enqueue, fail, recover_stale, report_progress
from app.org.models import RoleName, Unit, UnitKind
from app.org.services import create_unit
from tests import factories


def _register(monkeypatch: pytest.MonkeyPatch, kind: str, handler: Any) -> None:
    monkeypatch.setitem(job_runner.KINDS, kind, JobKind(handler=handler, result_template="org/_import_job_result.html",
                                                        title=lambda: "Test job"))


def _job(job_id: int) -> BackgroundJob:
    db_session.expire_all()
    job = db_session.get(BackgroundJob, job_id)
    assert job is not None
    return job


def test_two_runners_cannot_take_the_same_job(ctx):
    first = enqueue("test.noop", {}, created_by=None)
    second = enqueue("test.noop", {}, created_by=None)
    db_session.commit()
    assert claim_next("runner-a") == first.id  # the oldest first
    assert claim(first.id, "runner-b") is False  # taken: the guarded UPDATE matches nothing
    assert claim_next("runner-b") == second.id
    assert claim_next("runner-a") is None  # nothing left
    db_session.commit()
    assert (_job(first.id).claimed_by, _job(second.id).claimed_by) == ("runner-a", "runner-b")
    assert _job(first.id).state == JobState.RUNNING


def test_only_the_holder_reports_progress_or_ends_a_job(ctx):
    job = enqueue("test.noop", {}, created_by=None)
    db_session.commit()
    assert claim_next("runner-a") == job.id
    assert report_progress(db_session(), job.id, "runner-b", done=5, total=10) is False
    assert report_progress(db_session(), job.id, "runner-a", done=5, total=10, phase="checking") is True
    db_session.commit()
    found = _job(job.id)
    assert (found.progress_done, found.progress_total, found.phase) == (5, 10, "checking")


def test_a_double_submit_queues_one_job(ctx):
    first = enqueue("test.noop", {"n": 1}, created_by=None, dedupe_key="same-cause")
    again = enqueue("test.noop", {"n": 2}, created_by=None, dedupe_key="same-cause")
    db_session.commit()
    assert again.id == first.id
    assert len(db_session.scalars(select(BackgroundJob).where(BackgroundJob.dedupe_key == "same-cause")).all()) == 1


def test_the_runner_commits_the_work_and_the_result_together(ctx, monkeypatch):
    def handler(job: BackgroundJob, progress: Progress) -> dict[str, Any]:
        progress.phase("checking")
        progress(3, 3)
        create_unit("JOB1", "ジョブで作った課", UnitKind.DEPARTMENT, None)
        return {"made": "JOB1"}

    _register(monkeypatch, "test.work", handler)
    job = enqueue("test.work", {}, created_by=None)
    db_session.commit()
    assert run_due("runner-a") == [job.id]
    found = _job(job.id)
    assert found.state == JobState.SUCCEEDED and found.result == {"made": "JOB1"}
    assert (found.progress_done, found.progress_total) == (3, 3)
    assert found.started_at is not None and found.finished_at is not None
    assert db_session.scalar(select(Unit).where(Unit.code == "JOB1")) is not None


@pytest.mark.parametrize("failure", ["refused", "crashed"])
def test_a_failing_job_applies_nothing_and_says_why(ctx, monkeypatch, failure):
    def handler(job: BackgroundJob, progress: Progress) -> dict[str, Any]:
        create_unit("JOB2", "途中まで作った課", UnitKind.DEPARTMENT, None)
        db_session.flush()
        if failure == "refused":
            raise JobFailed("line 3 is wrong", {"reason": "invalid"})
        raise RuntimeError("boom")

    _register(monkeypatch, "test.fail", handler)
    job = enqueue("test.fail", {}, created_by=None)
    db_session.commit()
    run_due("runner-a")
    found = _job(job.id)
    assert found.state == JobState.FAILED
    assert found.result == ({"reason": "invalid"} if failure == "refused" else {"reason": "error"})
    assert ("line 3" if failure == "refused" else "RuntimeError: boom") in found.message
    assert db_session.scalar(select(Unit).where(Unit.code == "JOB2")) is None


def test_a_job_of_an_unknown_kind_fails(ctx):
    job = enqueue("test.nobody-runs-this", {}, created_by=None)
    db_session.commit()
    run_due("runner-a")
    assert _job(job.id).state == JobState.FAILED


def test_a_job_whose_runner_stopped_is_failed_not_left_running(ctx):
    job = enqueue("test.noop", {}, created_by=None)
    db_session.commit()
    assert claim_next("dead-runner", at=now() - timedelta(hours=2)) == job.id
    db_session.commit()
    assert recover_stale(now(), timedelta(hours=3)) == 0  # still within its time
    assert recover_stale(now(), timedelta(minutes=15)) == 1
    db_session.commit()
    found = _job(job.id)
    assert found.state == JobState.FAILED and found.result == {"reason": "interrupted"}


def test_the_one_shot_command_runs_queued_jobs(app, runner, monkeypatch):
    _register(monkeypatch, "test.cli", lambda job, progress: {"ok": True})
    with app.app_context():
        job = enqueue("test.cli", {}, created_by=None)
        db_session.commit()
        job_id = job.id
    result = runner.invoke(args=["jobs", "run-due", "--now", "2026-12-01T09:00"])
    assert result.exit_code == 0, result.output
    assert f"ran 1 job(s): {job_id}" in result.output
    with app.app_context():
        assert _job(job_id).state == JobState.SUCCEEDED
    assert runner.invoke(args=["jobs", "run-due", "--now", "yesterday"]).exit_code == 2  # a usage error


# --- the job page ------------------------------------------------------------------------------


def test_the_job_page_shows_progress_with_a_bar_and_counts(app, client):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        job = enqueue("org.staff_import", {"filename": "staff.csv"}, created_by=hr)
        db_session.commit()
        assert claim_next("runner-a") == job.id
        report_progress(db_session(), job.id, "runner-a", done=12000, total=100000, phase="checking")
        db_session.commit()
        job_id = job.id
    factories.login_as(client, hr)
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert 'data-state="running"' in page and 'data-phase="checking"' in page
    assert 'max="100000" value="12000"' in page and "12,000 / 100,000" in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page  # without JavaScript
    assert "/static/job-progress.js" in page  # with it: no inline script (the CSP allows none)
    assert "<script>" not in page


def test_the_job_page_of_a_failed_import_names_file_line_and_field(app, client):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        job = enqueue("org.staff_import", {"filename": "bad.csv"}, created_by=hr)
        db_session.commit()
        claim_next("runner-a")
        fail(job.id, "runner-a", "1 problem(s) in bad.csv", {
            "reason": "invalid", "filename": "bad.csv", "issue_count": 1,
            "issues": [{"line": 7, "field": "email", "column": "メールアドレス", "message": "x@@y"}]})
        db_session.commit()
        job_id = job.id
    factories.login_as(client, hr)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'data-outcome="invalid"' in page
    assert '<tr data-line="7" data-field="email"><td>bad.csv</td><td>7</td><td>メールアドレス</td>' in page
    assert 'http-equiv="refresh"' not in page


def test_a_job_is_visible_to_whoever_started_it(app, client, monkeypatch):
    with app.app_context():
        person = factories.employee()
        stranger = factories.employee()
        job = enqueue("test.mine", {}, created_by=person)
        db_session.commit()
        job_id = job.id
    factories.login_as(client, person)
    assert client.get(f"/jobs/{job_id}").status_code == 200
    other = app.test_client()
    factories.login_as(other, stranger)
    assert other.get(f"/jobs/{job_id}").status_code == 403


def test_a_job_waiting_long_says_the_scheduler_may_not_be_running(app, client):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        fresh = enqueue("org.staff_import", {}, created_by=hr)
        old = enqueue("org.staff_import", {}, created_by=hr, at=now() - timedelta(minutes=2))
        db_session.commit()
        ids = (fresh.id, old.id)
    factories.login_as(client, hr)
    assert "data-waiting-long" not in client.get(f"/jobs/{ids[0]}").get_data(as_text=True)
    page = client.get(f"/jobs/{ids[1]}").get_data(as_text=True)
    assert "data-waiting-long" in page and "<code>flask scheduler run</code>" in page
    assert '<h1></h1>' not in page and "<title> |" not in page  # the kind's title heads the page
