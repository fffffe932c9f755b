from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class CoursePlan(Base):
    """HR's planned number of participants per course per fiscal year."""

    __tablename__ = "course_plans"
    __table_args__ = (UniqueConstraint("course_id", "fiscal_year"),
                      CheckConstraint("planned >= 0", name="planned_non_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    planned: Mapped[int] = mapped_column(Integer)


class HalfYearReport(Base):
    """HR's narrative for a half, and, once published, the frozen figures (later data changes
    never alter a published report)."""

    __tablename__ = "half_year_reports"
    __table_args__ = (UniqueConstraint("fiscal_year", "half"), CheckConstraint("half IN (1, 2)", name="half_valid"))

    id: Mapped[int] = mapped_column(primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    half: Mapped[int] = mapped_column(Integer)
    narrative: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    public_slug: Mapped[str | None] = mapped_column(String(40), unique=True)
