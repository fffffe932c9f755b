"""Each scheduled job run leaves one line an operator can search: job, holder, outcome, duration."""
from __future__ import annotations

import logging
from datetime import datetime

import pytest
from flask import Flask

from app.core.scheduler import ScheduledJob, release_lease, run_job


def job_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [record.fields for record in caplog.records  # type: ignore[attr-defined]
            if record.name == "app.core.scheduler" and hasattr(record, "fields")]


def _ok(_app: Flask, _at: datetime, _holder: str) -> None:
    pass


def _broken(_app: Flask, _at: datetime, _holder: str) -> None:
    raise RuntimeError("the mail server said no")


def test_a_run_a_failure_and_a_standby_are_each_logged(app, caplog):
    caplog.set_level(logging.INFO, logger="app")
    try:
        run_job(app, ScheduledJob("ok", _ok, "interval"), "host-a:1")
        run_job(app, ScheduledJob("broken", _broken, "interval"), "host-a:1")
        run_job(app, ScheduledJob("ok", _ok, "interval"), "host-b:2")  # host-a still holds the lease
    finally:
        with app.app_context():
            release_lease("host-a:1")
    lines = job_lines(caplog)
    assert [(line["job"], line["holder"], line["outcome"]) for line in lines] == [
        ("ok", "host-a:1", "done"), ("broken", "host-a:1", "failed"), ("ok", "host-b:2", "standby")]
    assert all(isinstance(line["duration_ms"], float) for line in lines)
