"""Reads of the half-year report's versions (the public pages and HR's report page)."""
from __future__ import annotations

from sqlalchemy import select

from app.core.db import db_session
from app.reports.models import HalfYearReport


def published_by_slug(slug: str) -> HalfYearReport | None:
    return db_session.scalar(select(HalfYearReport).where(HalfYearReport.public_slug == slug,
                                                          HalfYearReport.published_at.is_not(None)))


def published_versions(fiscal_year: int, half: int) -> list[HalfYearReport]:
    """Every published version of a half's report, the first first (one statement)."""
    return list(db_session.scalars(select(HalfYearReport).where(
        HalfYearReport.fiscal_year == fiscal_year, HalfYearReport.half == half,
        HalfYearReport.published_at.is_not(None)).order_by(HalfYearReport.version)))
