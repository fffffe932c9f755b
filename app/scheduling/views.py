from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from app.catalog.queries import course_by_code
from app.core.clock import TOKYO, today
from app.core.db import db_session
from app.enrollment.queries import live_places
from app.org.models import Employee
from app.permissions import Permission, require
from app.scheduling import queries
from app.scheduling.forms import CancelSessionForm, SessionForm, format_meetings
from app.scheduling.models import ApprovalPolicy, SessionStatus, TrainingSession
from app.scheduling.services import SchedulingError, SessionDetails, cancel_session, schedule_session, update_session
from app.web import confirmations
from app.web.confirmations import Step
from app.web.locale import gettext as _

bp = Blueprint("scheduling", __name__, url_prefix="/sessions")


def _instructors(form: SessionForm) -> list[Employee] | None:
    numbers = [n for n in (form.instructors.data or "").replace(",", " ").split() if n]
    if not numbers:
        return []
    found = list(db_session.scalars(select(Employee).where(Employee.employee_number.in_(numbers),
                                                           Employee.is_active)))
    missing = sorted(set(numbers) - {e.employee_number for e in found})
    if missing:
        form.instructors.errors = [_("Unknown employee number(s): %(numbers)s", numbers=", ".join(missing))]
        return None
    return found


def _details(form: SessionForm) -> SessionDetails:
    return SessionDetails(
        label=form.label.data or "", location=form.location.data or "", online_url=form.online_url.data or None,
        capacity=form.capacity.data, enrolment_opens_at=form.tokyo(form.enrolment_opens_at.data),
        enrolment_closes_at=form.tokyo(form.enrolment_closes_at.data),
        cancellation_deadline_at=form.tokyo(form.cancellation_deadline_at.data),
        approval_policy=ApprovalPolicy(form.approval_policy.data), notes=form.notes.data or "",
        min_presence_pct=form.min_presence_pct.data,
    )


def _attach(form: SessionForm, error: SchedulingError) -> None:
    field = getattr(form, error.field, None) or form.meetings
    field.errors = [*field.errors, str(error)]


@bp.route("/course/<code>")
@require(Permission.SCHEDULING_SESSION_EDIT)
def course_sessions(code: str) -> ResponseReturnValue:
    course = course_by_code(code)
    if course is None:
        abort(404)
    return render_template("scheduling/course_sessions.html", course=course,
                           sessions=queries.sessions_of_course(course.id))


@bp.route("/course/<code>/new", methods=["GET", "POST"])
@require(Permission.SCHEDULING_SESSION_EDIT)
def new_session(code: str) -> ResponseReturnValue:
    course = course_by_code(code)
    if course is None:
        abort(404)
    form = SessionForm()
    if request.method == "GET":
        form.approval_policy.data = ApprovalPolicy.MANAGER.value
        form.suggest(today())
    if form.validate_on_submit():
        instructors = _instructors(form)
        if instructors is not None:
            try:
                training_session = schedule_session(current_user, course, _details(form), form.parsed_meetings,
                                                    instructors)
            except SchedulingError as error:
                db_session.rollback()
                _attach(form, error)
            else:
                db_session.commit()
                flash(_("Session scheduled."), "success")
                return redirect(url_for("enrollment.roster", session_id=training_session.id))
    return render_template("scheduling/edit_session.html", form=form, course=course, training_session=None), \
        400 if form.errors else 200


def _load(session_id: int) -> TrainingSession:
    training_session = queries.load_session(session_id)
    if training_session is None:
        abort(404)
    return training_session


@bp.route("/<int:session_id>/edit", methods=["GET", "POST"])
@require(Permission.SCHEDULING_SESSION_EDIT)
def edit_session(session_id: int) -> ResponseReturnValue:
    training_session = _load(session_id)
    form = SessionForm(obj=training_session if request.method == "GET" else None)
    if request.method == "GET":
        form.meetings.data = format_meetings([(m.starts_at, m.ends_at) for m in training_session.meetings])
        for name in ("enrolment_opens_at", "enrolment_closes_at", "cancellation_deadline_at"):
            getattr(form, name).data = getattr(training_session, name).astimezone(TOKYO).replace(tzinfo=None)
        form.approval_policy.data = training_session.approval_policy.value
        form.instructors.data = " ".join(e.employee_number for e in training_session.instructors)
    if form.validate_on_submit():
        instructors = _instructors(form)
        if instructors is not None:
            try:
                update_session(current_user, training_session, _details(form), form.parsed_meetings, instructors)
            except SchedulingError as error:
                db_session.rollback()
                _attach(form, error)
            else:
                db_session.commit()
                flash(_("Session updated. Everyone enrolled is told about a change of time or place."), "success")
                return redirect(url_for("enrollment.roster", session_id=training_session.id))
    return render_template("scheduling/edit_session.html", form=form, course=training_session.course,
                           training_session=training_session,
                           cancel_form=CancelSessionForm()), 400 if form.errors else 200


@bp.route("/<int:session_id>/cancel", methods=["POST"])
@require(Permission.SCHEDULING_SESSION_EDIT)
def cancel(session_id: int) -> ResponseReturnValue:
    training_session = _load(session_id)
    form = CancelSessionForm()
    if not form.validate_on_submit():
        flash(_("Give a reason for cancelling the session."), "error")
        return redirect(url_for("scheduling.edit_session", session_id=training_session.id))
    places = live_places(training_session.id)  # who the cancellation ends and tells (enrollment's read)
    reason = (form.reason.data or "").strip()
    shown = confirmations.fingerprint(training_session.id, training_session.status.value, training_session.sequence,
                                      reason, [(e.id, e.state.value, e.holds_seat) for e in places])
    which = confirmations.step(form.fingerprint.data, shown)
    if training_session.status == SessionStatus.SCHEDULED and which is not Step.CONFIRMED:
        if which is Step.STALE:
            flash(confirmations.stale_message(), "error")
        return render_template("scheduling/cancel_confirm.html", training_session=training_session, places=places,
                               reason=reason, fingerprint=shown), \
            confirmations.STALE_STATUS if which is Step.STALE else 200
    if cancel_session(current_user, training_session, form.reason.data):
        db_session.commit()
        flash(_("Session cancelled. Everyone enrolled is told."), "success")
    else:
        db_session.rollback()
        flash(_("This session has already been cancelled."), "info")
    return redirect(url_for("scheduling.course_sessions", code=training_session.course.code))
