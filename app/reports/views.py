from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.catalog.models import Course, CourseStatus
from app.completion.services import completed_course_ids_many
from app.core.clock import today
from app.core.db import db_session
from app.core.fiscal import fiscal_half_of, fiscal_year_of
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.labels import grade_label, unit_label
from app.org.models import Employee, Grade, Unit
from app.org.queries import all_grades
from app.permissions import Permission, can_view_team_unit, headed_units, public, require, team_unit_roots
from app.reports import compliance as comp
from app.reports import figures as fig
from app.reports import queries as report_queries
from app.reports import services as report_services
from app.reports import transitions
from app.reports.exports import enrolment_header, enrolment_rows, public_filename, public_header, public_rows
from app.reports.forms import HalfYearForm, plans_form
from app.reports.models import CoursePlan, HalfYearReport
from app.reports.suppression import THRESHOLD as SUPPRESSION_THRESHOLD
from app.reports.suppression import suppress
from app.reports.team import STATUSES, TeamOverview, team_overview
from app.scheduling.models import TrainingSession
from app.web import charts, confirmations
from app.web.confirmations import Step
from app.web.ids import arg_id, parse_fiscal_year
from app.web.locale import current_language
from app.web.locale import gettext as _
from app.web.pagination import Page, page_number, paginate
from app.web.spreadsheets import csv_response_rows, neutralise, xlsx_response_rows, xlsx_response_sheets

bp = Blueprint("reports", __name__)


def _status_labels() -> dict[str, str]:
    return {"overdue": _("Overdue"), "not_enrolled": _("Not enrolled"), "enrolled": _("Enrolled"),
            "completed": _("Completed")}


# --- the manager's team page -----------------------------------------------------------------


def _overview() -> TeamOverview:
    unit_id = arg_id("unit")
    if unit_id is not None and not can_view_team_unit(current_user, unit_id):
        abort(403)  # another unit's id in the URL: not theirs to see
    status = request.args.get("status", "")
    # A manager: the subtrees they head. HR: any unit of the prefecture, one chosen at a time.
    return team_overview(current_user, team_unit_roots(current_user), unit_id=unit_id, grade_id=arg_id("grade"),
                         status=status if status in STATUSES else "", shown_roots=headed_units(current_user))


@bp.route("/team")
@require(Permission.REPORTS_TEAM_READ)
def team() -> ResponseReturnValue:
    overview = _overview()
    # A department head may see thousands of rows: show them 100 at a time (exports have them all).
    number, size = page_number(), 100
    page = Page(items=overview.rows[(number - 1) * size:number * size], page=number, per_page=size,
                total=len(overview.rows))
    return render_template("reports/team.html", overview=overview, page=page, grades=all_grades(),
                           labels=_status_labels(), statuses=STATUSES,
                           choose_unit=arg_id("unit") is None and not headed_units(current_user))


def _team_rows(overview: TeamOverview) -> Iterator[list[Any]]:
    labels = _status_labels()
    locale = current_language()
    for row in overview.rows:
        yield [row.employee.employee_number, row.employee.name, unit_label(row.employee.unit, locale),
               grade_label(row.employee.grade, locale), row.course.title(locale),
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


def _charts(figures: dict[str, Any]) -> dict[str, charts.Chart]:
    """The charts of the dashboard and the half-year report (internal and public): the two rates by
    department are one figure, on one axis, each with its own title."""
    def rates(table: str, key: str, title: str, caption: str) -> charts.ChartSpec | None:
        rows = figures[table]
        labels = charts.distinct_labels([r["label"] for r in rows], [str(r.get("key") or "") for r in rows])
        return charts.rate_chart(title, labels, [r.get(key) for r in rows], caption)

    by_department = _("By department")
    department, attendance = charts.same_scale(
        rates("by_department", "completion_rate", _("Completion rate by department"), by_department),
        rates("by_department", "attendance_rate", _("Attendance rate by department"), by_department))
    specs = {"department": department, "department_attendance": attendance,
             "grade": rates("by_grade", "completion_rate", _("Completion rate by grade"), _("By grade"))}
    planned = [r for r in figures["by_course"] if r.get("planned") and r.get("achievement") is not None]
    if planned:
        values = [r["achievement"] for r in planned]
        specs["plan"] = charts.ChartSpec(
            _("Participants against plan"), tuple(r["label"] for r in planned), tuple(values),
            _("By course and programme"), scale=charts.scale_to_fit(values), axis_title=_("100% = as planned"),
            reference=100)
    return charts.render_all(specs)


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
    existing = {(p.course_id, p.half): p.planned for p in db_session.scalars(select(CoursePlan).where(
        CoursePlan.fiscal_year == period.fiscal_year))}
    form = plans_form(courses, current_language(), existing)
    if form.validate_on_submit():
        report_services.save_plans(current_user, period.fiscal_year, form.planned(), form.cleared())
        db_session.commit()
        flash(_("Plans saved."), "success")
        return redirect(url_for("reports.plans", fy=period.fiscal_year))
    if form.errors:
        flash(_("Planned numbers must be whole numbers: %(codes)s", codes=", ".join(form.refused_codes())), "error")
    return render_template("reports/plans.html", form=form, courses=courses, period=period, years=_years()), \
        400 if form.errors else 200


# --- the half-year progress report -----------------------------------------------------------


def _report_row(period: fig.Period) -> HalfYearReport | None:
    return transitions.latest_version(period.fiscal_year, period.half or 1)


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
    form = HalfYearForm()
    if form.is_submitted() and form.action.data != "correct":
        report = _report_row(period)
        if report is not None and report.published_at is not None:  # whatever was typed: nothing to change
            flash(_("A published report cannot be changed."), "error")
            return redirect(url_for("reports.half_year", fy=period.fiscal_year, half=period.half))
    if form.validate_on_submit():
        if form.action.data in (report_services.PUBLISH, report_services.CORRECT):
            preview = report_queries.preview_half_year(period, form.action.data, form.narrative.data or "",
                                                       (form.reason.data or "").strip(), form.version.number)
            which = confirmations.step(form.fingerprint.data, preview.fingerprint) if preview else Step.CONFIRMED
            if preview is not None and which is not Step.CONFIRMED:  # a preview first: nothing changes
                if which is Step.STALE:
                    flash(confirmations.stale_message(), "error")
                return _half_year_confirm(period, preview), \
                    confirmations.STALE_STATUS if which is Step.STALE else 200
        try:
            message = report_services.act_on_half_year(current_user, period, form.action.data,
                                                       form.narrative.data or "", (form.reason.data or "").strip(),
                                                       form.version.number)
        except transitions.ReportError as error:
            db_session.rollback()
            flash(str(error), "error")
        else:
            db_session.commit()
            flash(message, "success")
        return redirect(url_for("reports.half_year", fy=period.fiscal_year, half=period.half))
    report = _report_row(period)
    versions = report_queries.published_versions(period.fiscal_year, period.half or 1) \
        if report is not None and report.published_at is not None else []
    figures = report.snapshot if report is not None and report.snapshot else fig.compute(period, current_language())
    return render_template("reports/half_year.html", form=form, figures=figures, charts=_charts(figures),
                           period=period, report=report, versions=versions, years=_years(),
                           can_publish=transitions.half_has_ended(period.fiscal_year, period.half or 1),
                           publishable_from=transitions.publishable_from(period.fiscal_year, period.half or 1),
                           print_view=request.args.get("print") == "1"), 400 if form.errors else 200


def _half_year_confirm(period: fig.Period, preview: report_queries.HalfYearPreview) -> str:
    """The preview of publishing (or correcting) the report: the figures to be frozen, the comments
    and reason, what cannot be undone, and the confirm button carrying the preview's fingerprint."""
    figures = preview.figures if current_language() == "ja" else fig.compute(period, current_language())
    return render_template("reports/half_year_confirm.html", period=period, preview=preview, figures=figures,
                           previous=(preview.report.snapshot or {}) if preview.action == report_services.CORRECT
                           and preview.report is not None else None)


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


def _published_or_404(slug: str) -> tuple[HalfYearReport, dict[str, Any]]:
    report = report_queries.published_by_slug(slug)
    if report is None or not report.snapshot:
        abort(404)
    return report, suppress(report.snapshot)


@bp.route("/public/reports/<slug>")
@public
def public_report(slug: str) -> ResponseReturnValue:
    """A published version for everyone (no sign-in): aggregates only, small counts and whatever
    would give them away hidden (app/reports/suppression.py); the notice of a correction."""
    report, figures = _published_or_404(slug)
    period = fig.Period(report.fiscal_year, report.half)
    return render_template("reports/public_report.html", figures=figures, charts=_charts(figures), period=period,
                           report=report, versions=report_queries.published_versions(report.fiscal_year, report.half),
                           threshold=SUPPRESSION_THRESHOLD)


@bp.route("/public/reports/<slug>/figures.csv")
@public
def public_report_csv(slug: str) -> ResponseReturnValue:
    report, figures = _published_or_404(slug)
    return csv_response_rows(public_filename(report, "csv"), public_header(), public_rows(figures))


@bp.route("/public/reports/<slug>/figures.xlsx")
@public
def public_report_xlsx(slug: str) -> ResponseReturnValue:
    report, figures = _published_or_404(slug)
    return xlsx_response_rows(public_filename(report, "xlsx"), _("Figures"), public_header(), public_rows(figures))


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




# --- HR's compliance view: mandatory training across the prefecture ---------------------------


def _compliance_filters() -> comp.Filters:
    """The view's filters from the query string; a bad value is ignored (never a 500)."""
    half = request.args.get("half", "")
    return comp.Filters(
        fiscal_year=parse_fiscal_year(request.args.get("fy")) or fiscal_year_of(today()).year,
        half=int(half) if half in ("1", "2") else None, department_id=arg_id("department"), unit_id=arg_id("unit"),
        unit_only=request.args.get("only") == "1", grade_id=arg_id("grade"), course_id=arg_id("course"))


def _compliance_state() -> str | None:
    state = request.args.get("state", "")
    return state if state in comp.STATES else None


def _compliance_view(reference: comp.Reference | None = None) -> comp.ComplianceView:
    by = request.args.get("by", "")
    return comp.compliance_view(_compliance_filters(), by if by in comp.BREAKDOWNS else "department", today(),
                                current_language(), reference)


@bp.route("/reports/compliance")
@require(Permission.REPORTS_COMPLIANCE_READ)
def compliance() -> ResponseReturnValue:
    view = _compliance_view()
    breakdown = comp.breakdown_labels()[view.breakdown]
    # Units of different departments may share a name (総務課): those carry their department's name.
    labels = charts.distinct_labels([row.label for row in view.rows], [row.parent_label for row in view.rows])
    spec = charts.rate_chart(_("Completion rate by %(breakdown)s", breakdown=breakdown), labels,
                             [row.counts.done_rate for row in view.rows], _("By %(breakdown)s", breakdown=breakdown))
    chart = charts.render(spec) if spec is not None else None
    return render_template("reports/compliance.html", view=view, chart=chart, labels=comp.state_labels(),
                           breakdowns=comp.breakdown_labels(), years=_years())


@bp.route("/reports/compliance/people")
@require(Permission.REPORTS_COMPLIANCE_READ)
def compliance_people() -> ResponseReturnValue:
    """The people behind a count: one page of the assignments in the view (and state)."""
    filters, state, reference = _compliance_filters(), _compliance_state(), comp.load_reference()
    page = paginate(comp.people_statement(filters, reference, today(), state), per_page=50, scalars=False)
    page.items = list(comp.person_rows(page.items, reference, current_language()))
    return render_template("reports/compliance_people.html", filters=filters, state=state, page=page,
                           reference=reference, labels=comp.state_labels(), years=_years())


def _compliance_filename(extension: str) -> str:
    filters = _compliance_filters()
    half = f"-h{filters.half}" if filters.half else ""
    return f"compliance-{filters.fiscal_year}{half}-{today().isoformat()}.{extension}"


@bp.route("/reports/compliance/export.csv")
@require(Permission.REPORTS_COMPLIANCE_READ)
def compliance_csv() -> ResponseReturnValue:
    """The people of the view (and state), every row, streamed."""
    reference = comp.load_reference()
    rows = comp.all_people(_compliance_filters(), reference, today(), _compliance_state(), current_language())
    return csv_response_rows(_compliance_filename("csv"), comp.people_header(), comp.people_cells(rows))


@bp.route("/reports/compliance/export.xlsx")
@require(Permission.REPORTS_COMPLIANCE_READ)
def compliance_xlsx() -> ResponseReturnValue:
    """The view's table on one sheet, its people (and state) on the next."""
    reference = comp.load_reference()
    view = _compliance_view(reference)
    rows = comp.all_people(view.filters, reference, today(), _compliance_state(), current_language())
    return xlsx_response_sheets(_compliance_filename("xlsx"), [
        (_("Counts"), comp.summary_header(view.breakdown), comp.summary_cells(view)),
        (_("Assigned people"), comp.people_header(), comp.people_cells(rows))])
