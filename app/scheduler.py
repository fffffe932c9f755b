"""The scheduler: one process (`flask scheduler run`), a few fixed jobs, and a lease row.

Whoever holds an unexpired lease runs the jobs; a second copy stands by and takes over when the
lease runs out. Claims in the delivery job make a brief overlap harmless anyway. `make run`
starts the same scheduler in a thread of the development server, behind the same lease.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.clock import now
from app.db import db_session
from app.jobs.runner import run_due
from app.reminders.models import SchedulerLease

log = logging.getLogger(__name__)
LEASE_NAME = "main"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def hold_lease(holder: str, ttl: timedelta, at: datetime | None = None) -> bool:
    """Take or renew the lease; True when this holder may run jobs. Commits."""
    at = at or now()
    renewed = db_session.execute(
        update(SchedulerLease).where(SchedulerLease.name == LEASE_NAME,
                                     (SchedulerLease.holder == holder) | (SchedulerLease.expires_at < at))
        .values(holder=holder, expires_at=at + ttl).execution_options(synchronize_session=False)).rowcount
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


def release_lease(holder: str) -> None:
    db_session.execute(update(SchedulerLease).where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == holder)
                       .values(expires_at=now() - timedelta(seconds=1)).execution_options(synchronize_session=False))
    db_session.commit()


def run_job(app: Flask, name: str, holder: str) -> None:
    """Run one job if this process holds the lease (each job run is its own app context)."""
    from app.reminders.scans import queue_manager_digests, scan_assignments
    from app.reminders.senders import deliver_with_senders

    with app.app_context():
        try:
            ttl = timedelta(seconds=app.config["SCHEDULER_LEASE_SECONDS"])
            if not hold_lease(holder, ttl):
                return
            at = now()
            if name == "deliver":
                report = deliver_with_senders(app, at, worker=holder, senders=app.config["REMINDER_SENDERS"])
                if report.claimed:
                    log.info("delivered: %s", report)
            elif name == "scan":
                from app.reminders.scans import scan_milestones, sweep_ended_sessions

                sweep_ended_sessions(at)
                scan_assignments(at)
                scan_milestones(at)
                db_session.commit()
            elif name == "digest":
                queue_manager_digests(at)
                db_session.commit()
            elif name == "jobs":  # background jobs (app/jobs): a staff import, one at a time
                run_due(holder, at=at)
        except Exception:  # noqa: BLE001 - a failed run is logged; the next tick tries again
            db_session.rollback()
            log.exception("scheduler job %s failed", name)
        finally:
            db_session.remove()


def build_scheduler(app: Flask, *, blocking: bool):  # type: ignore[no-untyped-def]
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    holder = worker_name()
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone="Asia/Tokyo", job_defaults={"coalesce": True, "max_instances": 1,
                                                         "misfire_grace_time": 300})
    scheduler.add_job(run_job, "interval", seconds=app.config["SCHEDULER_DELIVERY_SECONDS"], args=[app, "deliver", holder],
                      id="deliver", next_run_time=datetime.now().astimezone())
    scheduler.add_job(run_job, "interval", hours=1, args=[app, "scan", holder], id="scan")
    scheduler.add_job(run_job, "cron", day_of_week="mon", hour=8, minute=0, args=[app, "digest", holder], id="digest")
    scheduler.add_job(run_job, "interval", seconds=app.config["JOBS_POLL_SECONDS"], args=[app, "jobs", holder], id="jobs")
    return scheduler, holder
