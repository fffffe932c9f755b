"""The scheduler: one process (`flask scheduler run`), a few fixed jobs, and a lease row.

The jobs come from the edge that composes the domains (app/cli/scheduled_jobs.py); this module
knows only how to run them behind the lease.

Whoever holds an unexpired lease runs the jobs; a second copy stands by and takes over when the
lease runs out. Claims in the delivery job make a brief overlap harmless anyway. `make run`
starts the same scheduler in a thread of the development server, behind the same lease.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.core.models import SchedulerLease

log = logging.getLogger(__name__)
LEASE_NAME = "main"


@dataclass(frozen=True)
class ScheduledJob:
    """One fixed job: `run(app, at, holder)` inside an app context, on an APScheduler trigger."""

    name: str
    run: Callable[[Flask, datetime, str], None]
    trigger: str  # "interval" or "cron"
    trigger_args: dict[str, Any] = field(default_factory=dict)
    start_at_once: bool = False


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def hold_lease(holder: str, ttl: timedelta, at: datetime | None = None) -> bool:
    """Take or renew the lease; True when this holder may run jobs. Commits."""
    at = at or now()
    renewed = rows_changed(db_session.execute(
        update(SchedulerLease).where(SchedulerLease.name == LEASE_NAME,
                                     (SchedulerLease.holder == holder) | (SchedulerLease.expires_at < at))
        .values(holder=holder, expires_at=at + ttl).execution_options(synchronize_session=False)))
    if not renewed:
        if db_session.scalar(select(SchedulerLease.name).where(SchedulerLease.name == LEASE_NAME)) is None:
            try:
                with db_session.begin_nested():
                    db_session.add(SchedulerLease(name=LEASE_NAME, holder=holder, expires_at=at + ttl))
                renewed = 1
            except IntegrityError:
                renewed = 0
    db_session.commit()
    return bool(renewed)


def current_lease() -> SchedulerLease | None:
    """The lease row (who holds it, until when), or None before any scheduler has run."""
    return db_session.get(SchedulerLease, LEASE_NAME)


def release_lease(holder: str) -> None:
    db_session.execute(update(SchedulerLease).where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == holder)
                       .values(expires_at=now() - timedelta(seconds=1)).execution_options(synchronize_session=False))
    db_session.commit()


def run_job(app: Flask, job: ScheduledJob, holder: str) -> None:
    """Run one job if this process holds the lease (each job run is its own app context)."""
    started, outcome = time.perf_counter(), "standby"
    with app.app_context():
        try:
            ttl = timedelta(seconds=app.config["SCHEDULER_LEASE_SECONDS"])
            if not hold_lease(holder, ttl):
                return
            job.run(app, now(), holder)
            outcome = "done"
        except Exception:
            outcome = "failed"
            db_session.rollback()
            log.exception("scheduler job %s failed", job.name)
        finally:
            db_session.remove()
            # One line per run for the operator (app/core/log_format.py), standby runs included: a
            # scheduler that only ever stands by shows that another process holds the lease.
            log.info("scheduler job %s %s", job.name, outcome, extra={"fields": {
                "job": job.name, "holder": holder, "outcome": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)}})


def build_scheduler(app: Flask, jobs: Sequence[ScheduledJob], *, blocking: bool) -> tuple[Any, str]:
    """An APScheduler (blocking for `flask scheduler run`, background for `flask serve`) running
    `jobs` behind the lease, and the name this process holds the lease under."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    holder = worker_name()
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone="Asia/Tokyo", job_defaults={"coalesce": True, "max_instances": 1,
                                                         "misfire_grace_time": 300})
    for job in jobs:
        start: dict[str, Any] = {"next_run_time": datetime.now().astimezone()} if job.start_at_once else {}
        scheduler.add_job(run_job, job.trigger, args=[app, job, holder], id=job.name, **job.trigger_args, **start)
    return scheduler, holder
