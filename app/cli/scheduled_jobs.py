"""The scheduler's fixed jobs. They compose several domains, so they are listed here at the edge
(app/core/scheduler.py runs them behind its lease and knows none of them)."""
from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from app.completion.recertification import run_recurrence
from app.core.clock import TOKYO
from app.core.db import db_session
from app.core.scheduler import ScheduledJob
from app.jobs.runner import run_due
from app.reminders.scans import (
    queue_manager_digests,
    scan_assignments,
    scan_expiring_completions,
    scan_milestones,
    sweep_ended_sessions,
)
from app.reminders.senders import deliver_with_senders
from app.retention.cli import nightly as retention_nightly

log = logging.getLogger(__name__)


def deliver(app: Flask, at: datetime, holder: str) -> None:
    """Send the notifications that are due."""
    report = deliver_with_senders(app, at, worker=holder, senders=app.config["REMINDER_SENDERS"])
    if report.claimed:
        # Counts only: the errors' text is the mail server's reply, which may name the recipient
        # (each failure has its own line, with its class and SMTP code: app/reminders/outbox_log.py).
        counts = {name: value for name, value in vars(report).items() if name != "errors"}
        log.info("delivered: %s", ", ".join(f"{name} {value}" for name, value in counts.items()),
                 extra={"fields": {**counts, "errors": len(report.errors)}})


def scan(app: Flask, at: datetime, holder: str) -> None:
    """Completions of sessions just ended, the next cycles of recurring and expired training,
    assignment reminders, certificates about to expire, cohort milestones."""
    sweep_ended_sessions(at)
    run_recurrence(at.astimezone(TOKYO).date())
    scan_assignments(at)
    scan_expiring_completions(at)
    scan_milestones(at)
    db_session.commit()


def digest(app: Flask, at: datetime, holder: str) -> None:
    """The managers' weekly digest."""
    queue_manager_digests(at)
    db_session.commit()


def background_jobs(app: Flask, at: datetime, holder: str) -> None:
    """Background jobs (app/jobs), such as a staff import, one at a time."""
    run_due(holder, at=at)


def scheduled_jobs(app: Flask) -> list[ScheduledJob]:
    return [
        ScheduledJob("deliver", deliver, "interval", {"seconds": app.config["SCHEDULER_DELIVERY_SECONDS"]},
                     start_at_once=True),
        ScheduledJob("scan", scan, "interval", {"hours": 1}),
        ScheduledJob("digest", digest, "cron", {"day_of_week": "mon", "hour": 8, "minute": 0}),
        ScheduledJob("jobs", background_jobs, "interval", {"seconds": app.config["JOBS_POLL_SECONDS"]}),
        ScheduledJob("retention", retention_nightly, "cron", {"hour": 2, "minute": 30}),  # Japan time, nightly
    ]
