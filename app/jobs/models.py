"""A background job: one row per piece of long work, from queued to succeeded or failed.

    queued --claim_next--> running --finish--> succeeded
                              |
                              +--fail / recover_stale--> failed

Every move is one guarded UPDATE in app/jobs/services.py.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, enum_column

if TYPE_CHECKING:  # org comes after this package; the mapper finds Employee by name
    from app.org.models import Employee


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED})


class BackgroundJob(Base):
    __tablename__ = "background_jobs"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),  # one job per cause: a double-clicked "apply" queues one import
        Index("ix_background_jobs_claim", "state", "id"),  # the claim order
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # what runs it (app/jobs/runner.py: register)
    state: Mapped[JobState] = mapped_column(enum_column(JobState), default=JobState.QUEUED)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # What the runner is doing (a code the job page words: "checking", "applying" ...) and how far.
    phase: Mapped[str] = mapped_column(String(40), default="")
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(500), default="")  # why it failed, for the log and the page
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what to do (the handler reads it)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what came of it (the page shows it)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]  # renewed by every progress report; a stale one means the runner died

    created_by: Mapped[Employee | None] = relationship()

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES
