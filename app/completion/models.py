from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, text
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
        # One valid completion per person and course; revoked ones stay as history.
        Index("uq_completions_valid_employee_course", "employee_id", "course_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
        Index("ix_completions_course_completed", "course_id", "completed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="SET NULL"))
    source: Mapped[CompletionSource] = mapped_column(enum_column(CompletionSource))
    completed_on: Mapped[date]
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    certificate_code: Mapped[str] = mapped_column(String(40), unique=True)
    evidence_note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str] = mapped_column(String(300), default="")

    employee: Mapped[Employee] = relationship(foreign_keys=[employee_id])
    course: Mapped[Course] = relationship()
