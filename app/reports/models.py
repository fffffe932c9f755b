from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base

WHOLE_YEAR = 0  # CoursePlan.half of the annual plan (0, not NULL, so the unique constraint binds)


class CoursePlan(Base):
    """HR's planned number of participants per course, for a fiscal year (half 0) or one of its
    halves (1 = 上期, 2 = 下期); see figures.plan_of for how the report compares with them."""

    __tablename__ = "course_plans"
    __table_args__ = (UniqueConstraint("course_id", "fiscal_year", "half"),
                      CheckConstraint("planned >= 0", name="planned_non_negative"),
                      CheckConstraint("half IN (0, 1, 2)", name="half_valid"))

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    half: Mapped[int] = mapped_column(Integer, default=WHOLE_YEAR, server_default="0")
    planned: Mapped[int] = mapped_column(Integer)


class HalfYearReport(Base):
    """One version of a half's report: HR's narrative, and, once published, the frozen figures
    (later data changes never alter a published report). Version 1 starts as a draft; a
    correction (erratum) is a new, published version that names the one it corrects, which is
    kept, marked superseded (app/reports/transitions.py draws the states)."""

    __tablename__ = "half_year_reports"
    __table_args__ = (
        UniqueConstraint("fiscal_year", "half", "version"),
        CheckConstraint("half IN (1, 2)", name="half_valid"),
        CheckConstraint("version >= 1", name="version_positive"),
        # the first version corrects nothing; every later one corrects the one before, says why,
        # and is published from the start
        CheckConstraint("(version = 1 AND previous_id IS NULL AND correction_reason IS NULL) OR "
                        "(version > 1 AND previous_id IS NOT NULL AND correction_reason IS NOT NULL "
                        "AND published_at IS NOT NULL)", name="erratum_names_previous"),
        CheckConstraint("superseded_at IS NULL OR published_at IS NOT NULL", name="superseded_only_if_published"),
        CheckConstraint("published_at IS NULL OR public_slug IS NOT NULL", name="published_has_slug"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    half: Mapped[int] = mapped_column(Integer)
    narrative: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    public_slug: Mapped[str | None] = mapped_column(String(40), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # the version this one corrects (one correction per version: the chain stays a line)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("half_year_reports.id"), unique=True)
    correction_reason: Mapped[str | None] = mapped_column(Text)
    superseded_at: Mapped[datetime | None]  # when a correction replaced this version

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None
