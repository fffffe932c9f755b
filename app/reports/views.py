from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.audit.services import record_event
from app.catalog.models import Course, CourseStatus
from app.completion.services import completed_course_ids_many
from app.core.clock import now, today
from app.core.db import db_session
from app.core.fiscal import fiscal_half_of, fiscal_year_of
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee, Grade, Unit
from app.org.queries import all_grades
from app.permissions import Permission, can_view_team_unit, headed_units, public, require
from app.reports import figures as fig
from app.reports.exports import enrolment_header, enrolment_rows
from app.reports.forms import HalfYearForm, plans_form
from app.reports.models import CoursePlan, HalfYearReport
from app.reports.team import STATUSES, TeamOverview, team_overview
from app.scheduling.models import TrainingSession
from app.web.charts import bar_chart_svg
from app.web.ids import arg_id, parse_fiscal_year
from app.web.locale import current_language
from app.web.locale import gettext as _
from app.web.pagination import Page, page_number
from app.web.spreadsheets import csv_response_rows, neutralise, xlsx_response_rows

bp = Blueprint("reports", __name__)


def _status_labels() -> dict[str, str]:
    return {"overdue": _("Overdue"), "not_enrolled": _("Not enrolled"), "enrolled": _("Enrolled"),
            "completed": _("Completed")}


# --- the manager's team page -----------------------------------------------------------------


def _overview() -> TeamOverview:
    unit_id = arg_id("unit")
    if unit_id is not None and not can_view_team_unit(current_user, unit_id):
        abort(403)  # another unit's id in the URL: not theirs to see
    roots = headed_units(current_user)
    status = request.args.get("status", "")
    return team_overview(current_user, roots, unit_id=unit_id, grade_id=arg_id("grade"),
                         status=status if status in STATUSES else "")


@bp.route("/team")
@require(Permission.REPORTS_TEAM_READ)
def team() -> ResponseReturnValue:
    overview = _overview()
    # A department head may see thousands of rows: show them 100 at a time (exports have them all).
    number, size = page_number(), 100
    page = Page(items=overview.rows[(number - 1) * size:number * size], page=number, per_page=size,
                total=len(overview.rows))
    return render_template("reports/team.html", overview=overview, page=page, grades=all_grades(),
                           labels=_status_labels(), statuses=STATUSES)


def _team_rows(overview: TeamOverview) -> Iterator[list[Any]]:
    labels = _status_labels()
    locale = current_language()
    for row in overview.rows:
        yield [row.employee.employee_number, row.employee.name, row.employee.unit.name if row.employee.unit else "",
               row.employee.grade.name if row.employee.grade else "", row.course.title(locale),
               row.due_on, labels[row.status]]


def _team_header() -> list[str]:
    return [_("Employee number"), _("Name"), _("Division"), _("Grade"), _("Course"), _("Due date"), _("Status")]


@bp.route("/team/export.csv")
@require(Permission.REPORTS_TEAM_READ)
def team_csv() -> ResponseReturnValue:
    return csv_response_rows(f"team-{today().isoformat()}.csv", _team_header(), _team_rows(_overview()))


@bp.route("/team/export.xlsx")
@require(Permission.REPORTS_TEAM_READ)
def team_xlsx() -> ResponseReturnValue:
    return xlsx_response_rows(f"team-{today().isoformat()}.xlsx", _("Team"), _team_header(), _team_rows(_overview()))


# --- HR dashboard ----------------------------------------------------------------------------


def _period() -> fig.Period:
    current = fiscal_year_of(today())
    year = parse_fiscal_year(request.args.get("fy")) or current.year
    half = request.args.get("half", "")
    return fig.Period(year, int(half) if half in ("1", "2") else None)


def _charts(figures: dict[str, Any]) -> dict[str, Markup]:
    def rates(rows: list[dict[str, Any]], key: str, title: str) -> Markup:
        rows = [r for r in rows if r.get(key) is not None]
        return bar_chart_svg([r["label"] for r in rows], [r[key] for r in rows], title=title, unit="%", max_value=100)

    charts = {
        "department": rates(figures["by_department"], "completion_rate", _("Completion rate by department")),
        "department_attendance": rates(figures["by_department"], "attendance_rate", _("Attendance rate by department")),
        "grade": rates(figures["by_grade"], "completion_rate", _("Completion rate by grade")),
    }
    planned = [r for r in figures["by_course"] if r.get("planned")]
    if planned:
        charts["plan"] = bar_chart_svg([r["label"] for r in planned], [r.get("achievement") or 0 for r in planned],
                                       title=_("Participants against plan"), unit="%", max_value=150, marker=100,
                                       marker_label=_("plan"))
    return charts


@bp.route("/reports/dashboard")
@require(Permission.REPORTS_ORG_READ)
def dashboard() -> ResponseReturnValue:
    period = _period()
    figures = fig.compute(period, current_language())
    return render_template("reports/dashboard.html", figures=figures, charts=_charts(figures), period=period,
                           years=_years())


def _years() -> list[int]:
    current = fiscal_year_of(today()).year
    return list(range(current, current - 7, -1))


@bp.route("/reports/drilldown")
@require(Permission.REPORTS_ORG_READ)
def drilldown() -> ResponseReturnValue:
    """The people behind a figure: participants of a department, grade or course in the period."""
    period = _period()
    stmt = (select(Enrolment).join(TrainingSession, Enrolment.session_id == TrainingSession.id)
            .join(Employee, Enrolment.employee_id == Employee.id)
            .where(Enrolment.state == EnrolmentState.CONFIRMED, TrainingSession.starts_at >= period.start,
                   TrainingSession.starts_at < period.end)
            .options(joinedload(Enrolment.employee), joinedload(Enrolment.course),
                     joinedload(Enrolment.training_session))
            .order_by(Employee.employee_number).limit(2000))
    code = request.args.get("department", "")
    if code:
        unit = db_session.scalar(select(Unit).where(Unit.code == code))
        if unit is None:
            abort(404)
        stmt = stmt.join(Unit, Employee.unit_id == Unit.id).where(Unit.path.startswith(unit.path))
    grade = request.args.get("grade", "")
    if grade:
        stmt = stmt.join(Grade, Employee.grade_id == Grade.id).where(Grade.code == grade)
    course = request.args.get("course", "")
    if course:
        stmt = stmt.join(Course, Enrolment.course_id == Course.id).where(Course.code == course)
    enrolments = list(db_session.scalars(stmt).unique())
    done = completed_course_ids_many(list({e.employee_id for e in enrolments}))
    return render_template("reports/drilldown.html", enrolments=enrolments, done=done, period=period,
                           filters={"department": code, "grade": grade, "course": course})


@bp.route("/reports/plans", methods=["GET", "POST"])
@require(Permission.REPORTS_ORG_READ)
def plans() -> ResponseReturnValue:
    period = _period()
    courses = list(db_session.scalars(select(Course).where(Course.status == CourseStatus.PUBLISHED)
                                      .order_by(Course.code)))
    existing = {p.course_id: p for p in db_session.scalars(select(CoursePlan).where(
        CoursePlan.fiscal_year == period.fiscal_year))}
    form = plans_form(courses, current_language(), {course_id: p.planned for course_id, p in existing.items()})
    if form.validate_on_submit():
        for course_id, planned in form.planned().items():
            plan = existing.get(course_id) or CoursePlan(course_id=course_id, fiscal_year=period.fiscal_year, planned=0)
            plan.planned = planned
            db_session.add(plan)
        record_event(current_user, "reports.plans_saved", "course_plans", period.fiscal_year)
        db_session.commit()
        flash(_("Plans saved."), "success")
        return redirect(url_for("reports.plans", fy=period.fiscal_year))
    if form.errors:
        flash(_("Planned numbers must be whole numbers: %(codes)s", codes=", ".join(form.refused_codes())), "error")
    return render_template("reports/plans.html", form=form, courses=courses, period=period, years=_years()), \
        400 if form.errors else 200


# --- the half-year progress report -----------------------------------------------------------


def _report_row(period: fig.Period) -> HalfYearReport | None:
    return db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == period.fiscal_year,
                                                          HalfYearReport.half == period.half))


def _half_period() -> fig.Period:
    period = _period()
    if period.half is None:
        period = fig.Period(period.fiscal_year, fiscal_half_of(today()).half if period.fiscal_year == fiscal_year_of(
            today()).year else 1)
    return period


@bp.route("/reports/half-year", methods=["GET", "POST"])
@require(Permission.REPORTS_ORG_READ)
def half_year() -> ResponseReturnValue:
    period = _half_period()
    report = _report_row(period)
    form = HalfYearForm()
    if form.is_submitted() and report is not None and report.published_at is not None:
        flash(_("A published report cannot be changed."), "error")
        return redirect(url_for("reports.half_year", fy=period.fiscal_year, half=period.half))
    if form.validate_on_submit():
        if report is None:
            report = HalfYearReport(fiscal_year=period.fiscal_year, half=period.half, narrative="")
            db_session.add(report)
        report.narrative = form.narrative.data or ""
        if form.is_publish:
            report.snapshot = fig.compute(period, "ja")
            report.published_at = now()
            report.published_by_id = current_user.id
            report.public_slug = secrets.token_urlsafe(9)
            record_event(current_user, "reports.half_year_published", "half_year_report",
                         f"{period.fiscal_year}-{period.half}")
            flash(_("Report published. Its figures are now frozen."), "success")
        else:
            flash(_("Comments saved."), "success")
        db_session.commit()
        return redirect(url_for("reports.half_year", fy=period.fiscal_year, half=period.half))
    figures = report.snapshot if report is not None and report.snapshot else fig.compute(period, current_language())
    return render_template("reports/half_year.html", form=form, figures=figures, charts=_charts(figures),
                           period=period, report=report, years=_years(), print_view=request.args.get("print") == "1"), \
        400 if form.errors else 200


@bp.route("/reports/half-year.xlsx")
@require(Permission.REPORTS_ORG_READ)
def half_year_xlsx() -> ResponseReturnValue:
    period = _half_period()
    report = _report_row(period)
    figures = report.snapshot if report is not None and report.snapshot else fig.compute(period, current_language())
    return _figures_workbook(figures, f"half-year-{period.fiscal_year}-{period.half}.xlsx")


def _figures_workbook(figures: dict[str, Any], filename: str) -> Response:
    """Several sheets in write-only mode: departments, grades, courses, cohorts."""
    workbook = Workbook(write_only=True)
    common = [_("Participants"), _("Completed"), _("Completion rate (%)"), _("Attendance rate (%)")]
    for title, key, extra in ((_("Departments"), "by_department", []), (_("Divisions"), "by_division", []),
                              (_("Grades"), "by_grade", []),
                              (_("Courses"), "by_course", [_("Planned"), _("Against plan (%)"), _("Quiz pass rate (%)"),
                                                           _("Satisfaction (1-5)")])):
        sheet = workbook.create_sheet(title=title[:31])
        sheet.append([_("Breakdown"), *common, *extra])
        for row in figures.get(key, []):
            values = [neutralise(row["label"]), row.get("participants"), row.get("completed"),
                      row.get("completion_rate"), row.get("attendance_rate")]
            if key == "by_course":
                values += [row.get("planned"), row.get("achievement"), row.get("quiz_pass_rate"),
                           row.get("satisfaction")]
            sheet.append(values)
    sheet = workbook.create_sheet(title=_("Cohorts")[:31])
    sheet.append([_("Cohort"), _("Quota"), _("Applicants"), _("Selected"), _("Teams"), _("Milestones accepted (%)"),
                  _("Completed")])
    for row in figures.get("cohorts", []):
        sheet.append([neutralise(row["label"]), row.get("quota"), row.get("applicants"), row.get("selected"),
                      row.get("teams"), row.get("milestone_rate"), row.get("completed")])
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    handle.seek(0)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(65536):
                yield chunk

    response = Response(chunks(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response.call_on_close(handle.close)  # a HEAD request never reads the body, so never enters chunks()
    return response


@bp.route("/public/reports/<slug>")
@public
def public_report(slug: str) -> ResponseReturnValue:
    """The published report for everyone (no sign-in): aggregates only, small counts suppressed."""
    report = db_session.scalar(select(HalfYearReport).where(HalfYearReport.public_slug == slug,
                                                            HalfYearReport.published_at.is_not(None)))
    if report is None or not report.snapshot:
        abort(404)
    figures = fig.suppress(report.snapshot)
    period = fig.Period(report.fiscal_year, report.half)
    return render_template("reports/public_report.html", figures=figures, charts=_charts(figures), period=period,
                           report=report, threshold=fig.SUPPRESSION_THRESHOLD)


# --- exports ---------------------------------------------------------------------------------


@bp.route("/reports/export/enrolments.csv")
@require(Permission.REPORTS_ORG_READ)
def export_enrolments() -> ResponseReturnValue:
    """Every enrolment of a fiscal year, streamed (memory stays flat)."""
    period = _period()
    return csv_response_rows(f"enrolments-{period.fiscal_year}.csv", enrolment_header(), enrolment_rows(period))


@bp.route("/reports/export/enrolments.xlsx")
@require(Permission.REPORTS_ORG_READ)
def export_enrolments_xlsx() -> ResponseReturnValue:
    period = _period()
    return xlsx_response_rows(f"enrolments-{period.fiscal_year}.xlsx", _("Enrolments"), enrolment_header(),
                              enrolment_rows(period))


