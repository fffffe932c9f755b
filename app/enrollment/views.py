from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from app.assessment.queries import quiz_summary
from app.attendance.queries import open_check_ins
from app.attendance.services import rate_of
from app.cohorts.queries import milestones_of_participant
from app.completion.queries import done_assignment_ids
from app.completion.services import check_rule, completed_course_ids_many, valid_completion
from app.core.clock import now, today
from app.core.db import db_session
from app.elearning.queries import my_modules, prestudy_by_employee, prestudy_modules, progress_by_module
from app.enrollment import queries
from app.enrollment.calendar import build_calendar
from app.enrollment.forms import BulkEnrolForm, CancelEnrolmentForm, DecisionForm, EnrolForm
from app.enrollment.models import Enrolment
from app.enrollment.services import (
    EnrolmentError,
    cancel,
    current_policy,
    decide_many,
    enrol,
    enrol_many,
    handed_over_notice,
    preview_enrol_many,
    promote_by_hand,
    reset_calendar_feed,
)
from app.org.labels import grade_label, unit_label
from app.org.models import Employee, Unit
from app.org.queries import all_grades, employee_by_number, units_in_tree_order
from app.permissions import (
    Permission,
    can_cancel_enrolment,
    can_decide_enrolment,
    can_join_cohort_session,
    can_manage_employee,
    can_override_enrolment_rules,
    can_view_enrolment,
    can_view_roster,
    has_permission,
    is_own_enrolment,
    public,
    require,
    signed_in,
)
from app.scheduling.models import TrainingSession
from app.scheduling.queries import load_session
from app.web import confirmations
from app.web.confirmations import Step
from app.web.external_urls import base_url
from app.web.ids import parse_id
from app.web.locale import gettext as _
from app.web.redirects import safe_next

NUMBER_SEPARATORS = re.compile(r"[\r\n,、，]+")  # a pasted list: one per line, or commas (Japanese ones too)

bp = Blueprint("enrollment", __name__)


def _session_or_404(session_id: int) -> TrainingSession:
    training_session = load_session(session_id)
    if training_session is None:
        abort(404)
    return training_session


def _enrolment_or_404(enrolment_id: int) -> Enrolment:
    enrolment = queries.load_enrolment(enrolment_id)
    if enrolment is None:
        abort(404)
    if not can_view_enrolment(current_user, enrolment):
        abort(403)
    return enrolment


@bp.route("/sessions/<int:session_id>/enrol", methods=["POST"])
@signed_in
def enrol_view(session_id: int) -> ResponseReturnValue:
    form = EnrolForm()
    if not form.validate_on_submit():
        abort(400)
    back = safe_next(form.next_page.data, "enrollment.my_learning")
    training_session = _session_or_404(session_id)
    employee: Employee = current_user
    number = (form.employee_number.data or "").strip()
    if number and number != current_user.employee_number:
        found = employee_by_number(number)
        if found is None:
            flash(_("No employee with number %(number)s.", number=number), "error")
            return redirect(back)
        if not can_manage_employee(current_user, found):
            abort(403)
        employee = found
    override = bool(form.override_rules.data) and can_override_enrolment_rules(current_user)
    if training_session.cohort_only and not override and not can_join_cohort_session(employee, training_session):
        flash(_("This session is only for the participants of its cohort."), "error")
        return redirect(back)
    try:
        completed = completed_course_ids_many([employee.id]).get(employee.id, set())
        result = enrol(current_user, employee, training_session, completed_course_ids=completed,
                       override_rules=override)
    except EnrolmentError as error:
        db_session.rollback()
        flash(str(error), "error")
        return redirect(back)
    db_session.commit()
    flash(_status_message(result.enrolment), "success")
    for warning in result.warnings:
        flash(warning, "info")
    return redirect(back)


def _status_message(enrolment: Enrolment) -> str:
    state = enrolment.state.value
    if state == "confirmed":
        return _("Enrolled: your place is confirmed.")
    if state == "waitlisted":
        return _("The session is full: you are on the waitlist (number %(n)s).",
                 n=queries.positions(enrolment.session_id).get(enrolment.id, "?"))
    if enrolment.holds_seat:
        return _("Requested: a seat is kept for you while your manager decides.")
    return _("Requested: you keep your waitlist place (number %(n)s) while your manager decides.",
             n=queries.positions(enrolment.session_id).get(enrolment.id, "?"))


@bp.route("/enrolments/<int:enrolment_id>")
@signed_in
def detail(enrolment_id: int) -> ResponseReturnValue:
    found = queries.load_enrolment(enrolment_id)
    if found is not None and not can_view_enrolment(current_user, found):
        notice = handed_over_notice(current_user, found)  # an old link in a former head's mail
        if notice is not None:
            flash(notice, "info")
            may_approve = has_permission(current_user, Permission.ENROLLMENT_APPROVE)
            return redirect(url_for("enrollment.approvals" if may_approve else "home.home"))
    enrolment = _enrolment_or_404(enrolment_id)
    # After the session: attendance, quiz, survey and completion, read from those domains here.
    after: dict[str, object] = {}
    if enrolment.state.value == "confirmed":
        after = {"rate": rate_of(enrolment), "check": check_rule(enrolment),
                 "completion": valid_completion(enrolment.employee_id, enrolment.course_id),
                 **quiz_summary(enrolment, current_user)}
    prestudy = prestudy_modules(enrolment.course)  # e-learning to do before the session, if the course has some
    own = is_own_enrolment(current_user, enrolment)
    return render_template("enrollment/detail.html", enrolment=enrolment, events=queries.events_of(enrolment.id),
                           check_ins=open_check_ins(current_user.id, enrolment_id=enrolment.id) if own else [],
                           prestudy=prestudy,
                           prestudy_progress=progress_by_module(enrolment.employee_id, enrolment.course_id)
                           if prestudy else {},
                           position=queries.positions_for([enrolment]).get(enrolment.id),
                           can_cancel=can_cancel_enrolment(current_user, enrolment), cancel_form=CancelEnrolmentForm(),
                           can_decide=can_decide_enrolment(current_user, enrolment), decision_form=DecisionForm(),
                           show_after_session=bool(after), **after)


@bp.route("/enrolments/<int:enrolment_id>/cancel", methods=["POST"])
@signed_in
def cancel_view(enrolment_id: int) -> ResponseReturnValue:
    enrolment = _enrolment_or_404(enrolment_id)
    form = CancelEnrolmentForm()
    if not form.validate_on_submit():
        if not form.errors.get("reason"):
            abort(400)  # the CSRF error handler answers before this; anything else is not a person's input
        flash(f"{form.reason.label.text}: {' '.join(form.errors['reason'])}", "error")
        return redirect(url_for("enrollment.detail", enrolment_id=enrolment.id))
    try:
        cancel(current_user, enrolment, form.reason.data or "", current_policy())
    except EnrolmentError as error:
        db_session.rollback()
        flash(str(error), "error")
    else:
        db_session.commit()
        flash(_("Cancelled. The seat goes to the next person waiting."), "success")
    return redirect(url_for("enrollment.detail", enrolment_id=enrolment.id))


@bp.route("/enrolments/<int:enrolment_id>/promote", methods=["POST"])
@require(Permission.ENROLLMENT_MANAGE)
def promote(enrolment_id: int) -> ResponseReturnValue:
    enrolment = _enrolment_or_404(enrolment_id)
    try:
        promote_by_hand(current_user, enrolment)
    except EnrolmentError as error:
        db_session.rollback()
        flash(str(error), "error")
    else:
        db_session.commit()
        flash(_("%(name)s now has a seat.", name=enrolment.employee.name), "success")
    return redirect(url_for("enrollment.roster", session_id=enrolment.session_id))


# --- approvals -------------------------------------------------------------------------------


@bp.route("/approvals", methods=["GET", "POST"])
@require(Permission.ENROLLMENT_APPROVE)
def approvals() -> ResponseReturnValue:
    form = DecisionForm()
    if form.is_submitted():
        if not form.validate_on_submit():
            if not form.errors.get("reason"):
                abort(400)
            flash(f"{form.reason.label.text}: {' '.join(form.errors['reason'])}", "error")
            return redirect(url_for("enrollment.approvals"))
        ids = form.chosen_ids()
        if not ids:
            flash(_("Tick at least one request."), "error")
            return redirect(url_for("enrollment.approvals"))
        reason = (form.reason.data or "").strip()
        if form.action.data == "decline" and not reason:
            flash(_("Give a reason for declining."), "error")
            return redirect(url_for("enrollment.approvals"))
        chosen = list(db_session.scalars(select(Enrolment).where(Enrolment.id.in_(ids))))
        # A page opened before a transfer may still list requests handed to another head since.
        handed_over = {e.id: notice for e in chosen if not can_view_enrolment(current_user, e)
                       and (notice := handed_over_notice(current_user, e)) is not None}
        chosen = [e for e in chosen if e.id not in handed_over]
        if any(not can_view_enrolment(current_user, e) for e in chosen):
            abort(403)
        for notice in handed_over.values():
            flash(notice, "error")
        outcome = decide_many(current_user, chosen, form.action.data, reason, current_policy())
        db_session.commit()
        if outcome.done:
            flash(_("%(n)s request(s) approved.", n=outcome.done) if form.action.data == "approve"
                  else _("%(n)s request(s) declined.", n=outcome.done), "success")
        for line in outcome.refused:
            flash(line, "error")
        return redirect(safe_next(form.next_page.data, "enrollment.approvals"))
    return render_template("enrollment/approvals.html", requests=queries.approvals_for(current_user), form=form)


# --- the roster and bulk enrolment (HR, instructors) -----------------------------------------


@bp.route("/sessions/<int:session_id>/enrolments")
@signed_in
def roster(session_id: int) -> ResponseReturnValue:
    training_session = _session_or_404(session_id)
    if not can_view_roster(current_user, training_session):
        abort(403)
    form = BulkEnrolForm()
    _fill_bulk_choices(form)
    enrolments = queries.roster(training_session.id)
    return render_template("enrollment/roster.html", training_session=training_session, enrolments=enrolments,
                           positions=queries.positions(training_session.id), bulk_form=form, outcome=None,
                           **_prestudy_columns(training_session, enrolments))


def _prestudy_columns(training_session: TrainingSession, enrolments: list[Enrolment]) -> dict[str, object]:
    """Who has done the course's pre-study (e-learning before the session), for the roster."""
    return {"prestudy": prestudy_modules(training_session.course),
            "prestudy_done": prestudy_by_employee(training_session.course, [e.employee_id for e in enrolments])}


def _fill_bulk_choices(form: BulkEnrolForm) -> None:
    from wtforms import SelectChoice

    form.grade.choices = [SelectChoice("", "—")] + [SelectChoice(str(g.id), grade_label(g)) for g in all_grades()]
    form.unit.choices = [SelectChoice("", "—")] + [SelectChoice(str(u.id), "　" * u.depth + unit_label(u))
                                                    for u in units_in_tree_order()]


@bp.route("/sessions/<int:session_id>/enrol-many", methods=["POST"])
@require(Permission.ENROLLMENT_MANAGE)
def enrol_many_view(session_id: int) -> ResponseReturnValue:
    form = BulkEnrolForm()
    _fill_bulk_choices(form)
    if not form.validate_on_submit():
        abort(400)
    training_session = _session_or_404(session_id)
    stmt = select(Employee).where(Employee.is_active.is_(True))
    numbers = [n.strip() for n in NUMBER_SEPARATORS.split(form.numbers.data or "") if n.strip()]
    unknown: list[str] = []
    if numbers:
        employees = list(db_session.scalars(stmt.where(Employee.employee_number.in_(numbers))))
        known = {e.employee_number for e in employees}
        unknown = [n for n in dict.fromkeys(numbers) if n not in known]
        order = {n: i for i, n in enumerate(numbers)}
        employees.sort(key=lambda e: order[e.employee_number])
    elif form.grade.data or form.unit.data:
        if (grade_id := parse_id(form.grade.data)) is not None:
            stmt = stmt.where(Employee.grade_id == grade_id)
        if (unit_id := parse_id(form.unit.data)) is not None:
            unit = db_session.get(Unit, unit_id)
            if unit is not None:
                stmt = stmt.join(Unit, Employee.unit_id == Unit.id).where(Unit.path.startswith(unit.path))
        employees = list(db_session.scalars(stmt.order_by(Employee.employee_number)))
    else:
        flash(_("Choose a grade or a unit, or paste employee numbers."), "error")
        return redirect(url_for("enrollment.roster", session_id=training_session.id))
    completed = completed_course_ids_many([e.id for e in employees])
    override = bool(form.override_rules.data)
    preview = preview_enrol_many(current_user, employees, training_session, completed, override_rules=override,
                                 unknown=unknown)
    which = confirmations.step(form.fingerprint.data, preview.fingerprint)
    if which is not Step.CONFIRMED:  # the preview: who would be enrolled, waitlisted, told; nothing changes
        if which is Step.STALE:
            flash(confirmations.stale_message(), "error")
        fields = [("grade", form.grade.data or ""), ("unit", form.unit.data or ""), ("numbers", ",".join(numbers))]
        return render_template("enrollment/enrol_many_confirm.html", training_session=training_session,
                               preview=preview, fields=fields + ([("override_rules", "y")] if override else [])), \
            confirmations.STALE_STATUS if which is Step.STALE else 200
    outcome = enrol_many(current_user, employees, training_session, completed,
                         override_rules=override, unknown=unknown)
    db_session.commit()
    enrolments = queries.roster(training_session.id)
    return render_template("enrollment/roster.html", training_session=training_session, enrolments=enrolments,
                           positions=queries.positions(training_session.id), bulk_form=form, outcome=outcome,
                           **_prestudy_columns(training_session, enrolments))


# --- My learning and calendars ---------------------------------------------------------------


@bp.route("/my-learning")
@signed_in
def my_learning() -> ResponseReturnValue:
    feed = queries.calendar_feed(current_user.id)
    modules = my_modules(current_user.id)  # e-learning begun, and where each pre-study stands
    return render_template("enrollment/my_learning.html", data=queries.my_learning(current_user), feed=feed,
                           check_ins=open_check_ins(current_user.id), now=now(),
                           milestones=milestones_of_participant(current_user.id),
                           progress=_assignment_progress(current_user.id), modules=modules,
                           prestudy_state={(m.course.id, m.module.key): m.progress.state.value for m in modules},
                           studying={m.course.id for m in modules if m.progress.state.value != "completed"})


def _assignment_progress(employee_id: int) -> dict[int, str]:
    """"completed" for each of the person's assignments answered by a current completion of its
    cycle (an expired certificate owes the course again)."""
    return dict.fromkeys(done_assignment_ids(employee_id, today()), "completed")


@bp.route("/enrolments/<int:enrolment_id>/calendar.ics")
@signed_in
def enrolment_ics(enrolment_id: int) -> ResponseReturnValue:
    enrolment = _enrolment_or_404(enrolment_id)
    body = build_calendar([enrolment], domain=_domain(), name=enrolment.course.title_ja, base_url=base_url())
    return Response(body, mimetype="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="manabi-{enrolment.id}.ics"'})


@bp.route("/calendar/<token>.ics")
@public
def feed(token: str) -> ResponseReturnValue:
    """The private subscription feed: the secret token in the URL is the credential."""
    found = queries.feed_by_token(token) if 20 <= len(token) <= 64 else None
    if found is None:
        abort(404)
    enrolments = queries.feed_enrolments(found.employee_id)
    body = build_calendar(enrolments, domain=_domain(), name=_("Manabi training"), base_url=base_url())
    return Response(body, mimetype="text/calendar; charset=utf-8", headers={"Cache-Control": "private, max-age=300"})


@bp.route("/calendar/reset", methods=["POST"])
@signed_in
def reset_feed() -> ResponseReturnValue:
    reset_calendar_feed(current_user)
    db_session.commit()
    flash(_("A new calendar address was made; the old one no longer works."), "success")
    return redirect(url_for("enrollment.my_learning") + "#calendar")


def _domain() -> str:
    return current_app.config.get("CALENDAR_UID_DOMAIN") or "manabi.local"
