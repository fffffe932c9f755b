"""Tables of the core itself (every domain's tables live in the domain)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class SchedulerLease(Base):
    """Only the holder of an unexpired lease runs the scheduled jobs; others stand by."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime]


class SchedulerJobRun(Base):
    """How each scheduled job last went (one row per job, written after every run that held the
    lease): for the operator's page and the per-job gauges. `last_error` is the exception's class
    name only, never its message (which may hold personal data)."""

    __tablename__ = "scheduler_job_runs"
    __table_args__ = (CheckConstraint("last_outcome IN ('done', 'failed')", name="last_outcome_known"),)

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    last_started_at: Mapped[datetime]
    last_finished_at: Mapped[datetime]
    last_outcome: Mapped[str] = mapped_column(String(10))
    last_error: Mapped[str] = mapped_column(String(100), default="")
    last_duration_ms: Mapped[int] = mapped_column(Integer)
    last_success_at: Mapped[datetime | None]
