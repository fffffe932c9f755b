"""The scheduler: one process (`flask scheduler run`), a few fixed jobs, and a lease row.

The jobs come from the edge that composes the domains (app/cli/scheduled_jobs.py); this module
knows only how to run them behind the lease.

Whoever holds an unexpired lease runs the jobs; a second copy stands by and takes over when the
lease runs out. Claims in the delivery job make a brief overlap harmless anyway. `make run`
starts the same scheduler in a thread of the development server, behind the same lease.

Every run that held the lease leaves its mark on the job's row of `scheduler_job_runs`
(`record_job_run`): the operator's page (/admin/operations) and the per-job gauges of /metrics read it.
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
from app.core.models import SchedulerJobRun, SchedulerLease

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


def record_job_run(name: str, holder: str, started_at: datetime, finished_at: datetime, error: str | None,
                   duration_ms: int) -> None:
    """Write how a job's run went on its row (one per job), in a transaction of its own. `error` is
    the exception's class name (None when the run succeeded): never its message. Two schedulers
    overlapping at a lease takeover may both write: the UPDATE decides, and an INSERT that loses
    the race to create the row falls back to it. Commits."""
    values: dict[str, Any] = {"holder": holder, "last_started_at": started_at, "last_finished_at": finished_at,
                              "last_outcome": "failed" if error else "done", "last_error": (error or "")[:100],
                              "last_duration_ms": duration_ms}
    if not error:
        values["last_success_at"] = finished_at

    def update_row() -> int:
        return rows_changed(db_session.execute(
            update(SchedulerJobRun).where(SchedulerJobRun.name == name).values(**values)
            .execution_options(synchronize_session=False)))

    if not update_row():
        try:
            with db_session.begin_nested():
                db_session.add(SchedulerJobRun(name=name, **values))
        except IntegrityError:  # the other scheduler created it meanwhile
            update_row()
    db_session.commit()


def job_runs() -> dict[str, SchedulerJobRun]:
    """Every job's last run by job name (one statement); a job never run has no entry."""
    return {run.name: run for run in db_session.scalars(select(SchedulerJobRun))}


def run_job(app: Flask, job: ScheduledJob, holder: str) -> None:
    """Run one job if this process holds the lease (each job run is its own app context), and
    record how it went (`record_job_run`) when it did."""
    started, outcome, error = time.perf_counter(), "standby", None
    started_at: datetime | None = None
    with app.app_context():
        try:
            ttl = timedelta(seconds=app.config["SCHEDULER_LEASE_SECONDS"])
            if not hold_lease(holder, ttl):
                return
            started_at = now()
            job.run(app, started_at, holder)
            outcome = "done"
        except Exception as exc:
            outcome, error = "failed", type(exc).__name__
            db_session.rollback()
            log.exception("scheduler job %s failed", job.name)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            if started_at is not None:  # this process held the lease and ran the job
                try:
                    db_session.rollback()  # whatever the job left open: the record is a transaction of its own
                    record_job_run(job.name, holder, started_at, now(), error, int(duration_ms))
                except Exception:
                    db_session.rollback()
                    log.exception("scheduler job %s: its run could not be recorded", job.name)
            db_session.remove()
            # One line per run for the operator (app/core/log_format.py), standby runs included: a
            # scheduler that only ever stands by shows that another process holds the lease.
            log.info("scheduler job %s %s", job.name, outcome, extra={"fields": {
                "job": job.name, "holder": holder, "outcome": outcome, "duration_ms": duration_ms}})


def next_fire_time(job: ScheduledJob, previous: datetime | None, at: datetime) -> datetime | None:
    """When the job's trigger (in Japan time, as `build_scheduler` sets it) fires next after a run
    at `previous` (None: never run), as APScheduler computes it at `at`."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    cls = CronTrigger if job.trigger == "cron" else IntervalTrigger
    fire: datetime | None = cls(timezone="Asia/Tokyo", **job.trigger_args).get_next_fire_time(previous, at)
    return fire


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
