"""The fiscal year's enrolments as rows, read in batches (yield_per) so exports stream; and the
public figures of a published report as rows (CSV and Excel of the public page)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from app.catalog.models import Course
from app.core.clock import TOKYO
from app.core.db import db_session
from app.enrollment.labels import state_label
from app.enrollment.models import Enrolment
from app.org.models import Employee, Grade, Unit
from app.reports.figures import Period
from app.reports.models import HalfYearReport
from app.scheduling.models import TrainingSession
from app.web.locale import current_language
from app.web.locale import gettext as _


def enrolment_header() -> list[str]:
    return [_("Employee number"), _("Name"), _("Division"), _("Grade"), _("Course code"), _("Course"),
            _("Session start"), _("Status"), _("Requested")]


def enrolment_rows(period: Period) -> Iterator[list[Any]]:
    """One row per enrolment of the period, in the reader's language: the state as the pages say it,
    units, grades and courses by their English names on an English export."""
    english = current_language() == "en"
    stmt = (select(Employee.employee_number, Employee.name, Unit.name, Unit.name_en, Grade.name, Grade.name_en,
                   Course.code, Course.title_ja, Course.title_en,
                   TrainingSession.starts_at, Enrolment.state, Enrolment.requested_at)
            .select_from(Enrolment)
            .join(Employee, Enrolment.employee_id == Employee.id)
            .outerjoin(Unit, Employee.unit_id == Unit.id)
            .outerjoin(Grade, Employee.grade_id == Grade.id)
            .join(Course, Enrolment.course_id == Course.id)
            .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
            .where(TrainingSession.starts_at >= period.start, TrainingSession.starts_at < period.end)
            .order_by(Enrolment.id)
            .execution_options(yield_per=2000))
    for (number, name, unit, unit_en, grade, grade_en, code, title, title_en, starts_at, state,
         requested_at) in db_session.execute(stmt):
        if english:
            unit, grade, title = unit_en or unit, grade_en or grade, title_en or title
        yield [number, name, unit or "", grade or "", code, title,
               starts_at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") if starts_at else "",
               state_label(state),
               requested_at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") if requested_at else ""]


# --- the public figures of a published report (already through suppression.suppress) ----------

HIDDEN = "x"  # a suppressed count or rate, the same mark whatever the reason (see suppression.py)


def public_filename(report: HalfYearReport, extension: str) -> str:
    return f"training-report-{report.fiscal_year}-h{report.half}-v{report.version}.{extension}"


def public_header() -> list[str]:
    return [_("Table"), _("Breakdown"), _("Participants"), _("Completed"), _("Completion rate (%)"),
            _("Attendance rate (%)"), _("Planned"), _("Against plan (%)")]


def public_rows(figures: dict[str, Any]) -> Iterator[list[Any]]:
    """The public tables, row by row with their totals. A hidden count is written "x" (an empty
    cell would read as zero); a rate is empty when hidden or when there is nothing to divide by."""
    def count(row: dict[str, Any], key: str) -> Any:
        return HIDDEN if row.get(key) is None else row[key]

    tables = ((_("By department"), "by_department"), (_("By grade"), "by_grade"),
              (_("By course and programme"), "by_course"))
    for title, key in tables:
        for row in [*figures.get(key, []), {**figures["totals"], "label": _("Total")}]:
            yield [title, row["label"], count(row, "participants"), count(row, "completed"),
                   row.get("completion_rate"), row.get("attendance_rate"),
                   row.get("planned") if key == "by_course" else None,
                   row.get("achievement") if key == "by_course" else None]
