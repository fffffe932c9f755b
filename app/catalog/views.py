from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from app.catalog import queries
from app.catalog.forms import (
    AssignmentRuleForm,
    CourseForm,
    PreviewForm,
    RetireForm,
    RolloverForm,
    RolloverPreviewForm,
)
from app.catalog.labels import FORMAT_LABELS, STATUS_LABELS, THEME_LABELS, TRACK_LABELS
from app.catalog.models import AssignmentRule, Course, CourseStatus, Recurrence
from app.catalog.module_files import modules_of
from app.catalog.rollover import apply_rollover, preview_rollover, rollover_fingerprint
from app.catalog.services import (
    CatalogError,
    create_assignment_rule,
    deactivate_assignment_rule,
    export_course_file,
    publish_course,
    retire_course,
    save_course,
    spec_from_course,
)
from app.core.clock import today
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.elearning.queries import progress_by_module
from app.enrollment.queries import positions_for, viewer_enrolments
from app.org.labels import grade_label, unit_label
from app.org.models import Grade, Unit, UnitKind
from app.org.queries import all_grades
from app.permissions import Permission, can_view_course, require, signed_in
from app.scheduling.queries import open_seat_course_ids, upcoming_seats_by_course, upcoming_sessions_by_course
from app.web import confirmations, pickers
from app.web.confirmations import ConfirmForm, Step
from app.web.ids import arg_id, parse_fiscal_year
from app.web.locale import current_language
from app.web.locale import gettext as _
from app.web.markdown import render_markdown
from app.web.pagination import paginate

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


def _filters(include_unpublished: bool = False) -> queries.CatalogFilters:
    args = request.args

    def pick(name: str, allowed: dict[str, Any]) -> str:
        value = args.get(name, "")
        return value if value in allowed else ""

    return queries.CatalogFilters(
        q=args.get("q", "")[:100], track=pick("track", TRACK_LABELS), theme=pick("theme", THEME_LABELS),
        grade_id=arg_id("grade"), delivery_format=pick("format", FORMAT_LABELS),
        fiscal_year=parse_fiscal_year(args.get("fy")), open_seats=args.get("open") == "1",
        include_unpublished=include_unpublished,
    )


@bp.route("/")
@signed_in
def index() -> ResponseReturnValue:
    filters = _filters()
    page = paginate(queries.catalog_statement(filters, open_seat_course_ids() if filters.open_seats else None),
                    per_page=20)
    course_ids = [c.id for c in page.items]
    return render_template(
        "catalog/index.html", page=page, filters=filters, grades=all_grades(),
        years=queries.fiscal_years(),
        assignments=queries.active_assignments_for(current_user.id, course_ids),
        sessions=upcoming_seats_by_course(course_ids, per_course=3),
    )


def _load_course(code: str) -> Course:
    course = queries.course_by_code(code)
    if course is None:
        abort(404)
    if not can_view_course(current_user, course):
        abort(404)  # a draft or retired course is not named to those who may not see it
    return course


@bp.route("/courses/<code>")
@signed_in
def course(code: str) -> ResponseReturnValue:
    course = _load_course(code)
    assignment = queries.active_assignments_for(current_user.id, [course.id]).get(course.id)
    # The sessions panel shows the scheduling and enrollment domains' reads (composed here).
    # Its meetings come with the sessions (one statement, not one per session): the page costs a
    # fixed number of statements however many sessions and meetings the course has.
    mine = viewer_enrolments(current_user.id, course.id)
    sessions = upcoming_sessions_by_course([course.id], per_course=30, with_meetings=True).get(course.id, [])
    return render_template(
        "catalog/course.html", course=course, body=render_markdown(course.body_md), assignment=assignment,
        programmes=queries.programmes_containing(course.id),
        for_my_grade=current_user.grade_id in {g.id for g in course.target_grades},
        sessions=sessions, mine=mine,
        live={e.session_id: e for e in mine if e.is_active}, positions=positions_for(mine),
        modules=modules_of(course.modules_spec),  # e-learning: one statement more, only when it has some
        module_progress=progress_by_module(current_user.id, course.id) if course.modules_spec else {},
    )


# --- the curriculum designer ---------------------------------------------------------------


@bp.route("/design/")
@require(Permission.CATALOG_COURSE_EDIT)
def design() -> ResponseReturnValue:
    filters = _filters(include_unpublished=True)
    page = paginate(queries.catalog_statement(filters), per_page=50)
    return render_template("catalog/design.html", page=page, filters=filters, grades=all_grades(),
                           years=queries.fiscal_years())


@bp.route("/design/new", methods=["GET", "POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def new_course() -> ResponseReturnValue:
    form = CourseForm(all_grades())
    if request.method == "GET":
        kind = request.args.get("kind")
        form.kind.data = kind if kind in ("course", "programme") else "course"
        form.min_attendance.data = 100
    if form.validate_on_submit():
        try:
            created = save_course(current_user, None, form.to_spec(), form.change_note.data or "")
        except CatalogError as error:
            db_session.rollback()
            _explain(form, str(error))
        else:
            db_session.commit()
            flash(_("Saved as a draft. Preview it, then publish it."), "success")
            return redirect(url_for("catalog.course", code=created.code))
    return render_template("catalog/edit.html", form=form, course=None), 400 if form.errors else 200


def _explain(form: CourseForm, code: str) -> None:
    if code == (form.code.data or "").strip():
        form.code.errors = [*form.code.errors, _("The code %(code)s is already used.", code=code)]
    else:
        message = _("Unknown course code %(code)s.", code=code)
        for field in (form.prerequisites, form.required_courses, form.elective_courses):
            if code in (field.data or ""):
                field.errors = [*field.errors, message]
                return
        form.code.errors = [*form.code.errors, message]


@bp.route("/design/<code>/edit", methods=["GET", "POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def edit_course(code: str) -> ResponseReturnValue:
    course = _load_course(code)
    form = CourseForm(all_grades())
    if request.method == "GET":
        form.fill_from(spec_from_course(course))
    if form.validate_on_submit():
        try:
            save_course(current_user, course, form.to_spec(quiz=course.quiz_spec), form.change_note.data or "")
        except CatalogError as error:
            db_session.rollback()
            _explain(form, str(error))
        else:
            db_session.commit()
            flash(_("Changes saved (version %(version)s).", version=course.version), "success")
            return redirect(url_for("catalog.course", code=course.code))
    return render_template("catalog/edit.html", form=form, course=course), 400 if form.errors else 200


@bp.route("/design/preview", methods=["POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def preview() -> ResponseReturnValue:
    """The body rendered and sanitised as the course page will show it; a body that saving would
    refuse (too long, a refused character) is refused here too, field by field (400)."""
    form = PreviewForm()
    if not form.validate_on_submit():
        return jsonify(errors={name: [f"{form[name].label.text}: {error}" for error in errors]
                               for name, errors in form.errors.items()}), 400
    return jsonify(html=str(render_markdown(form.body_md.data or "")))


@bp.route("/search/courses")
@require(Permission.CATALOG_COURSE_SEARCH)
def search_courses() -> ResponseReturnValue:
    """Courses and programmes whose code or title holds every word typed (a picker,
    app/web/pickers.py): the code goes into the input, the title and a draft's or a retired
    course's status are shown."""
    try:
        q = pickers.search_text()
    except pickers.BadQuery as error:
        return pickers.refuse(error)
    locale = current_language()
    found = queries.search_courses(q, limit=pickers.LIMIT + 1)
    return pickers.answer([
        pickers.Choice(course.code, course.title(locale),
                       "" if course.status == CourseStatus.PUBLISHED else str(STATUS_LABELS[course.status.value]))
        for course in found])


@bp.route("/design/<code>/publish", methods=["POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def publish(code: str) -> ResponseReturnValue:
    """Two submits: the first shows what publishing does (who sees the course, its sessions),
    the second, carrying that preview's fingerprint, publishes."""
    course = _load_course(code)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)  # the CSRF error handler answers before this; a fingerprint is never that long
    sessions = upcoming_sessions_by_course([course.id], include_cohort_only=True).get(course.id, [])
    grade_ids = sorted(g.id for g in course.target_grades)
    shown = confirmations.fingerprint(course.id, course.status.value, course.version, course.content_hash,
                                      grade_ids, [(s.id, s.status.value) for s in sessions])
    which = confirmations.step(form.fingerprint.data, shown)
    if course.status != CourseStatus.PUBLISHED and which is not Step.CONFIRMED:
        if which is Step.STALE:
            flash(confirmations.stale_message(), "error")
        return render_template("catalog/publish_confirm.html", course=course, sessions=sessions, fingerprint=shown,
                               audience=queries.staff_of_grades(grade_ids)), \
            confirmations.STALE_STATUS if which is Step.STALE else 200
    publish_course(current_user, course)
    db_session.commit()
    flash(_("Published: %(title)s", title=course.title(current_language())), "success")
    return redirect(url_for("catalog.course", code=course.code))


@bp.route("/design/<code>/retire", methods=["POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def retire(code: str) -> ResponseReturnValue:
    course = _load_course(code)
    form = RetireForm()
    if not form.validate_on_submit():
        abort(400)  # the CSRF error handler answers before this; a fingerprint is never that long
    sessions = upcoming_sessions_by_course([course.id], include_cohort_only=True).get(course.id, [])
    rules = queries.active_rules_of_course(course.id)
    shown = confirmations.fingerprint(course.id, course.status.value, course.version,
                                      [(s.id, s.status.value, s.seats_taken) for s in sessions],
                                      [(rule.id, count) for rule, count in rules])
    which = confirmations.step(form.fingerprint.data, shown)
    if course.status != CourseStatus.RETIRED and which is not Step.CONFIRMED:
        if which is Step.STALE:
            flash(confirmations.stale_message(), "error")
        return render_template("catalog/retire_confirm.html", course=course, sessions=sessions, rules=rules,
                               fingerprint=shown), confirmations.STALE_STATUS if which is Step.STALE else 200
    retire_course(current_user, course)
    db_session.commit()
    flash(_("Retired: %(title)s. Existing enrolments and records are kept.", title=course.title(current_language())),
          "success")
    return redirect(url_for("catalog.design"))


@bp.route("/design/<code>/export")
@require(Permission.CATALOG_COURSE_EDIT)
def export(code: str) -> ResponseReturnValue:
    course = _load_course(code)
    return Response(export_course_file(course), mimetype="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{course.code.lower()}.md"'})


@bp.route("/design/<code>/versions")
@require(Permission.CATALOG_COURSE_EDIT)
def versions(code: str) -> ResponseReturnValue:
    course = _load_course(code)
    return render_template("catalog/versions.html", course=course, versions=queries.versions_of(course.id))


# --- assignment rules ----------------------------------------------------------------------


def _rule_form() -> AssignmentRuleForm:
    form = AssignmentRuleForm()
    locale = current_language()
    courses = db_session.scalars(select(Course).where(Course.status == CourseStatus.PUBLISHED).order_by(Course.code))
    form.course.choices = [SelectChoice(str(c.id), f"{c.code} {c.title(locale)}") for c in courses]
    form.grade.choices = [SelectChoice(str(g.id), grade_label(g, locale)) for g in all_grades()]
    departments = db_session.scalars(select(Unit).where(Unit.kind == UnitKind.DEPARTMENT, Unit.is_active)
                                     .order_by(Unit.sort_order, Unit.code))
    form.departments.choices = [SelectChoice(str(u.id), unit_label(u, locale)) for u in departments]
    return form


@bp.route("/rules", methods=["GET", "POST"])
@require(Permission.CATALOG_ASSIGNMENT_EDIT)
def rules() -> ResponseReturnValue:
    form = _rule_form()
    if form.validate_on_submit():
        course = db_session.get(Course, int(form.course.data))
        grade = db_session.get(Grade, int(form.grade.data))
        departments = [db_session.get(Unit, int(i)) for i in form.departments.data or []]
        if course is None or grade is None:  # removed since the form was drawn
            form.course.errors = [_("This course or grade no longer exists.")]
        elif queries.assignment_rule_exists(course.id, grade.id, form.fiscal_year.data):
            form.course.errors = [_("A rule for this course, grade and fiscal year already exists.")]
        else:
            _rule, changes = create_assignment_rule(
                current_user, course, grade, form.fiscal_year.data, form.due_on.data,
                [d for d in departments if d is not None], recurrence=Recurrence(form.recurrence.data),
                interval_months=form.interval_months.data)
            db_session.commit()
            flash(_("Rule created: %(count)s people assigned.", count=changes.assigned), "success")
            return redirect(url_for("catalog.rules"))
    status = 400 if form.errors else 200
    return render_template("catalog/rules.html", form=form, rules=queries.assignment_rules(),
                           counts=queries.assignment_counts()), status


@bp.route("/rules/<int:rule_id>/deactivate", methods=["POST"])
@require(Permission.CATALOG_ASSIGNMENT_EDIT)
def deactivate_rule(rule_id: int) -> ResponseReturnValue:
    rule = db_session.get(AssignmentRule, rule_id)
    if rule is None:
        abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)  # the CSRF error handler answers before this; a fingerprint is never that long
    withdrawn = queries.withdrawn_by_switching_off(rule)
    shown = confirmations.fingerprint(rule.id, rule.is_active, [a.id for a in withdrawn])
    which = confirmations.step(form.fingerprint.data, shown)
    if rule.is_active and which is not Step.CONFIRMED:  # who stops being assigned; nothing changes yet
        if which is Step.STALE:
            flash(confirmations.stale_message(), "error")
        return render_template("catalog/rule_off_confirm.html", rule=rule, withdrawn=withdrawn, fingerprint=shown), \
            confirmations.STALE_STATUS if which is Step.STALE else 200
    deactivate_assignment_rule(current_user, rule)
    db_session.commit()
    flash(_("Rule switched off; its assignments are kept as history."), "success")
    return redirect(url_for("catalog.rules"))


@bp.route("/rules/rollover")
@require(Permission.CATALOG_ASSIGNMENT_EDIT)
def rollover() -> ResponseReturnValue:
    """The preview: what rolling a fiscal year's rules over to the next would create (reads only)."""
    form = RolloverPreviewForm(request.args, meta={"csrf": False})
    if "from_year" not in request.args:
        form.from_year.data = fiscal_year_of(today()).year
    elif not form.validate():
        return render_template("catalog/rollover.html", form=form, confirm_form=None, lines=[]), 400
    lines = preview_rollover(form.from_year.data)
    confirm_form = RolloverForm(from_year=form.from_year.data, fingerprint=rollover_fingerprint(lines))
    return render_template("catalog/rollover.html", form=form, confirm_form=confirm_form, lines=lines)


@bp.route("/rules/rollover", methods=["POST"])
@require(Permission.CATALOG_ASSIGNMENT_EDIT)
def apply_rollover_view() -> ResponseReturnValue:
    form = RolloverForm()
    if not form.validate_on_submit():
        preview = RolloverPreviewForm(meta={"csrf": False})
        if form.from_year.errors:
            preview.from_year.errors = list(form.from_year.errors)
            return render_template("catalog/rollover.html", form=preview, confirm_form=None, lines=[]), 400
        return render_template("catalog/rollover.html", form=preview, confirm_form=form,
                               lines=preview_rollover(form.from_year.data)), 400
    lines = preview_rollover(form.from_year.data)
    shown = rollover_fingerprint(lines)
    which = confirmations.step(form.fingerprint.data, shown)
    if which is not Step.CONFIRMED and any(line.skip is None for line in lines):
        # not what was previewed (or no preview): show it again, create nothing. (Nothing left to
        # create, as after a double click: the apply below says so.)
        if which is Step.STALE:
            flash(confirmations.stale_message(), "error")
        preview = RolloverPreviewForm(meta={"csrf": False}, from_year=form.from_year.data)
        return render_template("catalog/rollover.html", form=preview, lines=lines, confirm_form=RolloverForm(
            formdata=None, from_year=form.from_year.data, fingerprint=shown)), \
            confirmations.STALE_STATUS if which is Step.STALE else 200
    result = apply_rollover(current_user, form.from_year.data)
    db_session.commit()
    if result.created:
        flash(_("Rolled over: %(rules)s rules for fiscal %(year)s, %(count)s people assigned.",
                rules=len(result.created), year=form.from_year.data + 1, count=result.assigned), "success")
    else:
        flash(_("Nothing to roll over for fiscal %(year)s: its rules were rolled over already or carry on "
                "by themselves.", year=form.from_year.data), "info")
    return redirect(url_for("catalog.rules"))
