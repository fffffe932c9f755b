"""Each scheduled job's last run is kept for the operator: when it ran, whether it failed (the
exception's class, never its message), how long it took and when it last succeeded; /metrics
shows the same per job."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from app.core import scheduler
from app.core.scheduler import ScheduledJob, job_runs, record_job_run, release_lease, run_job

PINNED = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)
TOKEN = "a-long-random-scrape-token"


def _ok(_app: Flask, _at: datetime, _holder: str) -> None:
    pass


def _broken(_app: Flask, _at: datetime, _holder: str) -> None:
    raise RuntimeError("the mail server refused message 4711")


@pytest.fixture
def lease_released(app):
    yield
    with app.app_context():
        release_lease("host-a:1")


def test_a_success_then_a_failure_keep_the_last_success_and_only_the_error_class(app, lease_released):
    with time_machine.travel(PINNED, tick=False):
        run_job(app, ScheduledJob("scan", _ok, "interval", {"hours": 1}), "host-a:1")
    with time_machine.travel(PINNED + timedelta(hours=1), tick=False):
        run_job(app, ScheduledJob("scan", _broken, "interval", {"hours": 1}), "host-a:1")
    with app.app_context():
        run = job_runs()["scan"]
        assert (run.holder, run.last_outcome, run.last_error) == ("host-a:1", "failed", "RuntimeError")
        assert run.last_started_at == PINNED + timedelta(hours=1)
        assert run.last_success_at == PINNED  # the earlier success is kept
        assert run.last_duration_ms >= 0
        assert "4711" not in repr([getattr(run, column) for column in run.__table__.columns.keys()])


def test_a_standby_run_records_nothing(app, lease_released):
    run_job(app, ScheduledJob("deliver", _ok, "interval", {"seconds": 30}), "host-a:1")
    run_job(app, ScheduledJob("digest", _ok, "cron", {"hour": 8}), "host-b:2")  # host-a holds the lease
    with app.app_context():
        assert set(job_runs()) == {"deliver"}


def test_a_second_scheduler_creating_the_row_at_the_same_moment_does_not_break_the_record(ctx, monkeypatch):
    record_job_run("jobs", "host-a:1", PINNED, PINNED + timedelta(seconds=1), None, 1000)
    # host-b's UPDATE ran before host-a's row existed, so it tries to create the row too.
    real_rows_changed, calls = scheduler.rows_changed, []

    def first_update_missed(result):  # type: ignore[no-untyped-def]
        calls.append(result)
        return 0 if len(calls) == 1 else real_rows_changed(result)

    monkeypatch.setattr(scheduler, "rows_changed", first_update_missed)
    record_job_run("jobs", "host-b:2", PINNED + timedelta(minutes=1), PINNED + timedelta(minutes=1), "OSError", 5)
    run = job_runs()["jobs"]
    assert (run.holder, run.last_outcome, run.last_error, run.last_success_at) == (
        "host-b:2", "failed", "OSError", PINNED + timedelta(seconds=1))


def test_metrics_show_each_jobs_last_run_success_failure_and_duration(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    with app.app_context():
        record_job_run("deliver", "host-a:1", PINNED, PINNED + timedelta(seconds=2), None, 2500)
        record_job_run("scan", "host-a:1", PINNED, PINNED, "TimeoutError", 40)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    values = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
              for family in text_string_to_metric_families(response.get_data(as_text=True))
              for sample in family.samples}
    deliver, scan = (("job", "deliver"),), (("job", "scan"),)
    assert values[("manabi_scheduler_job_last_run_timestamp_seconds", deliver)] == PINNED.timestamp()
    assert values[("manabi_scheduler_job_last_success_timestamp_seconds", deliver)] == PINNED.timestamp() + 2
    assert values[("manabi_scheduler_job_last_run_failed", deliver)] == 0
    assert values[("manabi_scheduler_job_last_run_failed", scan)] == 1
    assert values[("manabi_scheduler_job_last_duration_seconds", deliver)] == 2.5
    assert ("manabi_scheduler_job_last_success_timestamp_seconds", scan) not in values  # never succeeded
