from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Course
from app.core.db import Base, enum_column
from app.org.models import Employee


class CompletionSource(enum.StrEnum):
    RULE = "rule"  # the course's completion rule was met
    PROGRAMME = "programme"  # all required courses and enough electives
    MANUAL = "manual"  # HR recorded outside or offline training


class Completion(Base):
    __tablename__ = "completions"
    __table_args__ = (
        # One valid completion per person, course and cycle (a renewal after expiry, or for a
        # later cycle, is the next cycle); revoked and expired ones stay as history.
        Index("uq_completions_valid_employee_course_cycle", "employee_id", "course_id", "cycle", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
        CheckConstraint("cycle >= 1", name="cycle_positive"),
        CheckConstraint("valid_until IS NULL OR valid_until >= completed_on", name="valid_after_completed"),
        Index("ix_completions_course_completed", "course_id", "completed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="SET NULL"))
    source: Mapped[CompletionSource] = mapped_column(enum_column(CompletionSource))
    completed_on: Mapped[date]
    cycle: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    valid_until: Mapped[date | None]  # the last day it counts (the course's valid_for_months); None: never expires
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    certificate_code: Mapped[str] = mapped_column(String(40), unique=True)
    evidence_note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str] = mapped_column(String(300), default="")

    employee: Mapped[Employee] = relationship(foreign_keys=[employee_id])
    course: Mapped[Course] = relationship()

    def is_expired_on(self, day: date) -> bool:
        """Past its last valid day (a completion without validity never expires)."""
        return self.valid_until is not None and self.valid_until < day
