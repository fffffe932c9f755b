"""The states of a half-year report. Every move is one guarded statement in this module, recorded
once in the audit log by the move that made it::

    (none) ──save / publish──► draft v1 (live figures, HR's narrative)
    draft ──save──► draft (the narrative; refused once published)
    draft ──publish (HR, only once the half has ended)──► published (figures frozen, public slug)
    published vN ──correct (HR, with a reason)──► superseded vN
                         └─ inserts vN+1: published at once, previous_id → vN, the reason

Nothing is ever deleted: every version stays readable (HR's page and its public address), the
public page of a superseded version points to the current one and the current one to the one it
corrects.

A move names the state it expects: `UPDATE … WHERE id = :id AND published_at IS NULL` (publish,
save) or `… AND superseded_at IS NULL` (correct). If another request moved the row first, nothing
changes and `Stale` says what happened; the unique (year, half, version) and unique previous_id
are the last word if two corrections or two first drafts race.
"""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import attributes

from app.audit.services import record_event
from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.org.models import Employee
from app.reports.figures import Period
from app.reports.models import HalfYearReport
from app.web.locale import format_era_date
from app.web.locale import gettext as _


class ReportError(Exception):
    """Why a report cannot be changed as asked, fit to show."""


class Stale(ReportError):
    """Another request changed the report first; the message says what happened."""


class HalfNotOver(ReportError):
    """The half is still running: its figures are not final."""


def _set_loaded(row: Any, values: dict[str, Any]) -> None:
    """The row as now stored, without a second write at flush."""
    for key, value in values.items():
        attributes.set_committed_value(row, key, value)


def half_has_ended(fiscal_year: int, half: int, at: datetime | None = None) -> bool:
    """Whether a half is over (Tokyo time): from the day after its last day."""
    return (at or now()) >= publishable_from(fiscal_year, half)


def publishable_from(fiscal_year: int, half: int) -> datetime:
    """The first instant after the half: 00:00 in Tokyo on the day after its last day."""
    return Period(fiscal_year, half).end


def latest_version(fiscal_year: int, half: int) -> HalfYearReport | None:
    return db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == fiscal_year,
                                                          HalfYearReport.half == half)
                             .order_by(HalfYearReport.version.desc()).limit(1))


def version_of(fiscal_year: int, half: int, version: int) -> HalfYearReport | None:
    return db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == fiscal_year,
                                                          HalfYearReport.half == half,
                                                          HalfYearReport.version == version))


def ensure_draft(fiscal_year: int, half: int) -> HalfYearReport:
    """The half's report, creating its first version as a draft if there is none yet (two first
    saves at once: the unique (year, half, version) keeps one, the other reads it)."""
    report = latest_version(fiscal_year, half)
    if report is not None:
        return report
    try:
        with db_session.begin_nested():
            report = HalfYearReport(fiscal_year=fiscal_year, half=half, narrative="", version=1)
            db_session.add(report)
            db_session.flush()
    except IntegrityError:
        report = latest_version(fiscal_year, half)
        if report is None:  # pragma: no cover - the unique constraint names a row that exists
            raise
    return report


def save_narrative(report: HalfYearReport, narrative: str) -> None:
    """draft → draft with new comments; refused once published."""
    moved = rows_changed(db_session.execute(
        update(HalfYearReport).where(HalfYearReport.id == report.id, HalfYearReport.published_at.is_(None))
        .values(narrative=narrative).execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(_("A published report cannot be changed."))
    _set_loaded(report, {"narrative": narrative})


def publish(report: HalfYearReport, actor: Employee, narrative: str, snapshot: dict[str, Any]) -> None:
    """draft → published, once, and only once the half has ended."""
    at = now()
    if not half_has_ended(report.fiscal_year, report.half, at):
        raise HalfNotOver(_("The report can be published once the half is over, from %(day)s.",
                            day=format_era_date(publishable_from(report.fiscal_year, report.half))))
    slug = secrets.token_urlsafe(9)
    values = {"narrative": narrative, "snapshot": snapshot, "published_at": at, "published_by_id": actor.id,
              "public_slug": slug}
    moved = rows_changed(db_session.execute(
        update(HalfYearReport).where(HalfYearReport.id == report.id, HalfYearReport.published_at.is_(None))
        .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(_("This report has already been published."))
    _set_loaded(report, values)
    record_event(actor, "reports.half_year_published", "half_year_report", report.id,
                 after={"fiscal_year": report.fiscal_year, "half": report.half, "version": report.version,
                        "public_slug": slug})


def correct(report: HalfYearReport, actor: Employee, reason: str, narrative: str,
            snapshot: dict[str, Any]) -> HalfYearReport:
    """published vN → superseded, and a new published version vN+1 that names it and the reason."""
    at = now()
    moved = rows_changed(db_session.execute(
        update(HalfYearReport).where(HalfYearReport.id == report.id, HalfYearReport.published_at.is_not(None),
                                     HalfYearReport.superseded_at.is_(None))
        .values(superseded_at=at).execution_options(synchronize_session=False)))
    if moved != 1:
        if report.published_at is None:
            raise Stale(_("Only a published report can be corrected."))
        raise Stale(_("This version has already been corrected: the page now shows the latest one."))
    _set_loaded(report, {"superseded_at": at})
    erratum = HalfYearReport(fiscal_year=report.fiscal_year, half=report.half, version=report.version + 1,
                             previous_id=report.id, correction_reason=reason, narrative=narrative,
                             snapshot=snapshot, published_at=at, published_by_id=actor.id,
                             public_slug=secrets.token_urlsafe(9))
    db_session.add(erratum)
    db_session.flush()
    record_event(actor, "reports.half_year_corrected", "half_year_report", erratum.id,
                 before={"version": report.version, "public_slug": report.public_slug,
                         "participants": (report.snapshot or {}).get("totals", {}).get("participants")},
                 after={"version": erratum.version, "public_slug": erratum.public_slug,
                        "participants": snapshot.get("totals", {}).get("participants")},
                 summary=reason[:200])
    return erratum
