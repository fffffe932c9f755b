"""What the operator's page (GET /admin/operations) reads: the scheduler's lease and how each job
last went, the outbox's health, the background-job queue, the database and the version running.

A fixed handful of statements whatever the size of the tables: the lease row, the jobs' run rows,
the outbox aggregate the metrics scrape reads too (app/reminders/queries.py), the failures of the
last day, the queue's counts, the database's size and its migration revision."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.core.db import db_session
from app.core.migrate_cli import MIGRATIONS_DIR
from app.core.models import SchedulerJobRun, SchedulerLease
from app.core.scheduler import ScheduledJob, current_lease, job_runs, next_fire_time
from app.jobs.models import BackgroundJob, JobState
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.queries import outbox_backlog

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
FAILED_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class JobStatus:
    job: ScheduledJob
    run: SchedulerJobRun | None  # None: never run (by any scheduler since this table existed)
    next_at: datetime | None  # from the job's trigger, after its last start (or now, never run)


@dataclass(frozen=True)
class OutboxHealth:
    counts: dict[str, int]  # pending / sending / failed -> how many, every kind together
    oldest_due_age: timedelta | None  # how long the oldest message due and not yet sent has waited
    failed_recently: int  # failed for good, their last attempt within FAILED_WINDOW


@dataclass(frozen=True)
class Database:
    backend: str  # "sqlite" | "postgresql"
    size_bytes: int | None
    revision: str | None  # alembic_version in the database (None: none recorded)
    head: str  # the code's head revision

    @property
    def up_to_date(self) -> bool:
        return self.revision == self.head


@dataclass(frozen=True)
class Operations:
    at: datetime
    lease: SchedulerLease | None
    lease_expired: bool
    jobs: list[JobStatus]
    outbox: OutboxHealth
    queue: dict[str, int]  # queued / running -> how many background jobs
    database: Database
    version: str | None
    build: str | None


def job_statuses(jobs: list[ScheduledJob], at: datetime) -> list[JobStatus]:
    runs = job_runs()
    statuses = []
    for job in jobs:
        run = runs.get(job.name)
        statuses.append(JobStatus(job, run, next_fire_time(job, run.last_started_at if run else None, at)))
    return statuses


def outbox_health(at: datetime) -> OutboxHealth:
    by_kind, oldest_due_at = outbox_backlog(at)
    counts = {status.value: 0 for status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)}
    for (status, _kind), count in by_kind.items():
        counts[status] = counts.get(status, 0) + count
    # A message fails for good on its last attempt, claimed at `claimed_at` (kept after the failure).
    failed_recently = db_session.scalar(select(func.count()).select_from(Notification).where(
        Notification.status == DeliveryStatus.FAILED, Notification.claimed_at >= at - FAILED_WINDOW)) or 0
    age = at - oldest_due_at if oldest_due_at is not None else None
    return OutboxHealth(counts, max(age, timedelta(0)) if age is not None else None, int(failed_recently))


def queue_counts() -> dict[str, int]:
    counts = {JobState.QUEUED.value: 0, JobState.RUNNING.value: 0}
    for state, count in db_session.execute(
            select(BackgroundJob.state, func.count())
            .where(BackgroundJob.state.in_((JobState.QUEUED, JobState.RUNNING))).group_by(BackgroundJob.state)):
        counts[JobState(state).value] = int(count)
    return counts


def database_size(backend: str) -> int | None:
    if backend == "sqlite":
        statement = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
    elif backend == "postgresql":
        statement = "SELECT pg_database_size(current_database())"
    else:
        return None
    size = db_session.scalar(text(statement))
    return int(size) if size is not None else None


def database_revision() -> str | None:
    try:
        with db_session.begin_nested():
            return db_session.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:  # no alembic_version table: a database never migrated
        return None


@lru_cache(maxsize=1)
def code_head() -> str:
    """The head revision of migrations/ (read once per process: the code does not change under it)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    return heads[0] if len(heads) == 1 else ", ".join(sorted(heads))


@lru_cache(maxsize=1)
def app_version() -> str | None:
    """The installed package's version, else pyproject.toml's [project] version, else None."""
    try:
        return metadata.version("manabi")
    except metadata.PackageNotFoundError:
        pass
    try:
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    version = project.get("version") if isinstance(project, dict) else None
    return str(version) if version else None


def operations(jobs: list[ScheduledJob], at: datetime, build: str | None) -> Operations:
    lease = current_lease()
    backend = db_session.get_bind().dialect.name
    return Operations(
        at=at, lease=lease, lease_expired=lease is None or lease.expires_at <= at,
        jobs=job_statuses(jobs, at), outbox=outbox_health(at), queue=queue_counts(),
        database=Database(backend, database_size(backend), database_revision(), code_head()),
        version=app_version(), build=build or os.environ.get("MANABI_BUILD") or None)
