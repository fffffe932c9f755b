"""Reads of the half-year report's versions (the public pages and HR's report page)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.core.db import db_session
from app.reports import transitions
from app.reports.figures import Period, compute
from app.reports.models import HalfYearReport
from app.web.confirmations import fingerprint


def published_by_slug(slug: str) -> HalfYearReport | None:
    return db_session.scalar(select(HalfYearReport).where(HalfYearReport.public_slug == slug,
                                                          HalfYearReport.published_at.is_not(None)))


def published_versions(fiscal_year: int, half: int) -> list[HalfYearReport]:
    """Every published version of a half's report, the first first (one statement)."""
    return list(db_session.scalars(select(HalfYearReport).where(
        HalfYearReport.fiscal_year == fiscal_year, HalfYearReport.half == half,
        HalfYearReport.published_at.is_not(None)).order_by(HalfYearReport.version)))


@dataclass(frozen=True)
class HalfYearPreview:
    """What publishing a half's report, or a correction of one, would make public (reads only)."""

    action: str  # "publish" or "correct"
    figures: dict[str, Any]  # the figures that would be frozen (as the service computes them)
    report: HalfYearReport | None  # the draft to publish, or the published version to correct
    narrative: str
    reason: str
    fingerprint: str


def preview_half_year(period: Period, action: str, narrative: str, reason: str = "",
                      version: int | None = None) -> HalfYearPreview | None:
    """The preview of publishing (`action` "publish") or correcting (`action` "correct", of
    `version`); None when the move would be refused anyway (the service says why)."""
    half = period.half or 1
    if action == "correct":
        report = transitions.version_of(period.fiscal_year, half, version or 0)
        if report is None or report.published_at is None or report.superseded_at is not None:
            return None
    elif action == "publish":
        report = transitions.latest_version(period.fiscal_year, half)
        if (report is not None and report.published_at is not None) or not transitions.half_has_ended(
                period.fiscal_year, half):
            return None
    else:
        return None
    figures = compute(period, "ja")  # what the service freezes
    narrative = narrative.replace("\r\n", "\n")
    shown = fingerprint(action, period.fiscal_year, half, report.id if report else None,
                        report.version if report else None, narrative, reason, figures)
    return HalfYearPreview(action, figures, report, narrative, reason, shown)
