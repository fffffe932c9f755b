from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Course
from app.core.db import Base, enum_column
from app.org.models import Employee

DEFAULT_MIN_PRESENCE_PCT = 75


class ApprovalPolicy(enum.StrEnum):
    NONE = "none"
    MANAGER = "manager"
    MANAGER_THEN_HR = "manager_then_hr"


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


session_instructors = Table(
    "session_instructors",
    Base.metadata,
    Column("session_id", ForeignKey("training_sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("employee_id", ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
)


class TrainingSession(Base):
    """One run of a course (研修日程). `seats_taken` counts seats held by confirmed and pending
    enrolments; it is only ever changed by a conditional UPDATE, and the CHECK constraint is the
    last word against overbooking."""

    __tablename__ = "training_sessions"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"),
        CheckConstraint("enrolment_closes_at > enrolment_opens_at", name="window_ordered"),
        CheckConstraint("min_presence_pct >= 1 AND min_presence_pct <= 100", name="min_presence_pct_range"),
        Index("ix_training_sessions_course_starts", "course_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    label: Mapped[str] = mapped_column(String(120), default="")  # e.g. 第1回（津会場）
    location: Mapped[str] = mapped_column(String(200), default="")
    online_url: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    enrolment_opens_at: Mapped[datetime]
    enrolment_closes_at: Mapped[datetime]
    cancellation_deadline_at: Mapped[datetime]
    approval_policy: Mapped[ApprovalPolicy] = mapped_column(enum_column(ApprovalPolicy))
    status: Mapped[SessionStatus] = mapped_column(enum_column(SessionStatus))
    cohort_only: Mapped[bool] = mapped_column(Boolean, default=False)  # modules of a selective cohort
    starts_at: Mapped[datetime]  # first meeting's start (kept in step with the meetings)
    ends_at: Mapped[datetime]  # last meeting's end
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # iCalendar SEQUENCE, raised on moves
    notes: Mapped[str] = mapped_column(Text, default="")
    # The share of a meeting's scheduled time someone must be in the web meeting to count as
    # present when a participant list is imported (app/attendance/participants.py).
    min_presence_pct: Mapped[int] = mapped_column(Integer, default=DEFAULT_MIN_PRESENCE_PCT,
                                                  server_default=str(DEFAULT_MIN_PRESENCE_PCT))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship()
    meetings: Mapped[list[Meeting]] = relationship(
        order_by=lambda: Meeting.starts_at, cascade="all, delete-orphan", back_populates="training_session")
    instructors: Mapped[list[Employee]] = relationship(secondary=session_instructors, order_by=Employee.name)

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.seats_taken)

    @property
    def is_online(self) -> bool:
        return bool(self.online_url)


class Meeting(Base):
    """One meeting (回) of a session: a date and time in Asia/Tokyo (stored as UTC)."""

    __tablename__ = "meetings"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]

    training_session: Mapped[TrainingSession] = relationship(back_populates="meetings")
