from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.attendance import participants as participants_service
from app.attendance import services
from app.attendance.checkin_codes import current_code
from app.attendance.events import AttendanceChanged
from app.attendance.forms import (
    CheckInForm,
    ParticipantMatchForm,
    ParticipantsApplyForm,
    ParticipantsUploadForm,
    RosterForm,
    RosterRow,
    roster_form,
)
from app.attendance.models import (
    AttendanceStatus,
    ImportedParticipant,
    ImportState,
    ParticipantImport,
    ParticipantMatch,
)
from app.core.clock import now
from app.core.db import db_session
from app.core.events import emit
from app.core.text_safety import find_unsafe
from app.enrollment.models import Enrolment
from app.permissions import attendance_session_filter, can_mark_attendance, signed_in
from app.scheduling.models import Meeting, SessionStatus, TrainingSession
from app.web import confirmations
from app.web.confirmations import Step
from app.web.external_urls import external_url
from app.web.ids import parse_ids
from app.web.locale import gettext as _

bp = Blueprint("attendance", __name__, url_prefix="/attendance")


def _meeting_or_404(meeting_id: int) -> Meeting:
    meeting = db_session.get(Meeting, meeting_id)
    if meeting is None:
        abort(404)
    return meeting


def _meeting_to_mark(meeting_id: int) -> Meeting:
    """A meeting whose attendance the signed-in person takes: 404 if missing, 403 if not theirs."""
    meeting = _meeting_or_404(meeting_id)
    if not can_mark_attendance(current_user, meeting):
        abort(403)
    return meeting


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


@bp.route("/meetings/<int:meeting_id>", methods=["GET", "POST"])
@signed_in
def roster(meeting_id: int) -> ResponseReturnValue:
    meeting = _meeting_to_mark(meeting_id)
    enrolments = services.roster_enrolments(meeting)
    joined = {e.id: services.joined_before(e, meeting) for e in enrolments}
    form = roster_form([RosterRow(e.id, e.employee.name) for e in enrolments if joined[e.id]])
    if not form.is_submitted():
        return _roster_page(meeting, enrolments, joined, form)
    if not form.validate_on_submit():
        return _roster_page(meeting, enrolments, joined, form), 400
    if form.is_all_present:
        count = services.mark_all_present(current_user, meeting)
        db_session.commit()
        flash(_("%(n)s people marked present.", n=count), "success")
        return redirect(url_for("attendance.roster", meeting_id=meeting.id))
    by_id = {e.id: e for e in enrolments}
    changed, conflicts = [], 0
    for change in form.changes():
        try:
            if services.set_mark(current_user, by_id[change.enrolment_id], meeting, change.status, change.remark,
                                 announce=False, seen=change.seen):
                changed.append(change.enrolment_id)
        except services.Stale:
            conflicts += 1
    if changed:
        emit(AttendanceChanged(tuple(changed)))
    db_session.commit()
    flash(_("Attendance saved (%(n)s changed).", n=len(changed)), "success")
    if conflicts:
        flash(_("%(n)s marks were changed by someone else (a check-in) while this page was open and were "
                "left as they are. Check them below.", n=conflicts), "error")
    return redirect(url_for("attendance.roster", meeting_id=meeting.id))


def _roster_page(meeting: Meeting, enrolments: list[Enrolment], joined: dict[int, bool], form: RosterForm) -> str:
    """The roster: the marks as recorded, or (after a refused save) as posted, with the errors."""
    marks = services.marks_for_meeting(meeting.id)
    form.fill_from(marks)
    all_marks = services.marks_by_enrolment([e.id for e in enrolments])
    rates = {e.id: services.attendance_rate(e, meeting.training_session.meetings, all_marks.get(e.id, {}), now())
             for e in enrolments}
    return render_template("attendance/roster.html", meeting=meeting, training_session=meeting.training_session,
                           enrolments=enrolments, marks=marks, rates=rates, statuses=list(AttendanceStatus),
                           joined=joined, form=form, upload_form=ParticipantsUploadForm(),
                           web_seconds=participants_service.covered_by_enrolment(meeting),
                           unmatched=participants_service.unmatched_counts([meeting.id]).get(meeting.id, 0),
                           has_imports=bool(participants_service.imports_of(meeting)))


@bp.route("/meetings/<int:meeting_id>/check-in-screen")
@signed_in
def checkin_screen(meeting_id: int) -> ResponseReturnValue:
    meeting = _meeting_to_mark(meeting_id)
    code, seconds = current_code(_secret(), meeting.id, now())
    link = external_url("attendance.check_in", meeting_id=meeting.id)
    return render_template("attendance/checkin_screen.html", meeting=meeting, code=code, seconds=seconds,
                           link=link, present=services.present_count(meeting.id))


@bp.route("/meetings/<int:meeting_id>/code.json")
@signed_in
def checkin_code(meeting_id: int) -> ResponseReturnValue:
    meeting = _meeting_to_mark(meeting_id)
    code, seconds = current_code(_secret(), meeting.id, now())
    response = jsonify(code=code, seconds=seconds, present=services.present_count(meeting.id))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/meetings/<int:meeting_id>/qr.svg")
@signed_in
def checkin_qr(meeting_id: int) -> ResponseReturnValue:
    import io

    import segno

    meeting = _meeting_to_mark(meeting_id)
    buffer = io.BytesIO()
    segno.make(external_url("attendance.check_in", meeting_id=meeting.id), error="m").save(
        buffer, kind="svg", scale=8, border=2, title="QR")
    return Response(buffer.getvalue(), mimetype="image/svg+xml")


@bp.route("/check-in/<int:meeting_id>", methods=["GET", "POST"])
@signed_in
def check_in(meeting_id: int) -> ResponseReturnValue:
    """The page the QR code opens on the participant's own phone or PC."""
    meeting = _meeting_or_404(meeting_id)
    form = CheckInForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.check_in(current_user, meeting, form.code.data, _secret())
        except services.AlreadyCheckedIn as error:  # a second check-in (or two at once): one mark
            db_session.rollback()
            flash(str(error), "info")
            return redirect(url_for("enrollment.my_learning"))
        except services.AttendanceError as error:
            db_session.commit()  # keep the count of wrong guesses
            form.code.errors = [str(error)]
            status = 400
        else:
            db_session.commit()
            flash(_("Checked in. Welcome!"), "success")
            return redirect(url_for("enrollment.my_learning"))
    elif request.method == "POST":
        status = 400
    return render_template("attendance/check_in.html", meeting=meeting, form=form), status


def _import_arg(import_id: int) -> dict[str, Any]:
    """The query string naming a list (`import` is a keyword, so it cannot be a keyword argument)."""
    return {"import": str(import_id)}


@bp.route("/meetings/<int:meeting_id>/participant-lists")
@signed_in
def participants(meeting_id: int) -> ResponseReturnValue:
    """A participant list of the meeting (the latest, or ?import=<id>): everyone in it with their
    minutes and what the session's rule makes of them; before applying, a preview; after, the
    people still to be matched by hand."""
    meeting = _meeting_to_mark(meeting_id)
    chosen = parse_ids(request.args.getlist("import"))
    participant_import = participants_service.load_import(meeting, chosen[0] if chosen else None)
    if chosen and participant_import is None:
        abort(404)
    return _participants_page(meeting, participant_import)


def _participants_page(meeting: Meeting, participant_import: ParticipantImport | None,
                       problems: list[str] | None = None, match_form: ParticipantMatchForm | None = None,
                       match_for: int | None = None) -> str:
    choices = [(e.id, f"{e.employee.name}（{e.employee.employee_number}）")
               for e in participants_service.match_choices(meeting)]
    forms = {}
    if participant_import is not None and participant_import.state == ImportState.APPLIED:
        for person in participant_import.participants:
            if person.match == ParticipantMatch.UNMATCHED:
                form = match_form if match_form is not None and match_for == person.id else ParticipantMatchForm(
                    formdata=None, data={"participant_id": person.id})
                form.set_choices(choices)
                forms[person.id] = form
    # a refused match of someone the page shows no form for (the list is not applied yet)
    unplaced = [] if match_form is None or match_for in forms else [
        f"{match_form.enrolment.label.text}: {error}" for error in match_form.enrolment.errors]
    rows = participants_service.rows_of(meeting, participant_import) if participant_import else []
    return render_template(
        "attendance/participants_preview.html", meeting=meeting, participant_import=participant_import,
        match_errors=unplaced, rows=rows,
        imports=participants_service.imports_of(meeting), problems=problems or [], match_forms=forms,
        required_pct=participants_service.required_pct(meeting),
        scheduled_minutes=participants_service.scheduled_seconds(meeting) // 60,
        apply_form=ParticipantsApplyForm(formdata=None, data={
            "import_id": participant_import.id,
            "fingerprint": participants_service.rows_fingerprint(participant_import, rows)})
        if participant_import else None, upload_form=ParticipantsUploadForm(formdata=None))


@bp.route("/meetings/<int:meeting_id>/participants", methods=["POST"])
@signed_in
def upload_participants(meeting_id: int) -> ResponseReturnValue:
    meeting = _meeting_to_mark(meeting_id)
    form = ParticipantsUploadForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for e in form.file.errors) or _("Choose a CSV file."), "error")
        return redirect(url_for("attendance.roster", meeting_id=meeting.id))
    name = (form.file.data.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    if not name or find_unsafe(name) is not None:  # shown on the page and in the audit trail
        name = "participants.csv"
    try:
        participant_import = participants_service.upload(current_user, meeting, form.file.data.read(), name)
    except participants_service.ImportRefused as refused:
        db_session.rollback()
        return _participants_page(meeting, None, problems=refused.problems), 422
    db_session.commit()
    return redirect(url_for("attendance.participants", meeting_id=meeting.id, **_import_arg(participant_import.id)))


@bp.route("/meetings/<int:meeting_id>/participants/apply", methods=["POST"])
@signed_in
def apply_participants(meeting_id: int) -> ResponseReturnValue:
    meeting = _meeting_to_mark(meeting_id)
    form = ParticipantsApplyForm()
    if not form.validate_on_submit():
        abort(400)
    import_id = form.import_key
    participant_import = participants_service.load_import(meeting, import_id) if import_id is not None else None
    if participant_import is None:
        abort(404)
    if participant_import.state == ImportState.PREVIEWED:  # apply what the preview showed, or nothing
        shown = participants_service.rows_fingerprint(participant_import,
                                                      participants_service.rows_of(meeting, participant_import))
        which = confirmations.step(form.fingerprint.data, shown)
        if which is not Step.CONFIRMED:
            if which is Step.STALE:
                flash(confirmations.stale_message(), "error")
            return _participants_page(meeting, participant_import), \
                confirmations.STALE_STATUS if which is Step.STALE else 200
    try:
        count = participants_service.apply(current_user, participant_import)
    except services.Stale:
        db_session.rollback()
        flash(_("This list has already been applied."), "info")
    else:
        db_session.commit()
        flash(_("Attendance set from the participant list (%(n)s marks changed).", n=count), "success")
    return redirect(url_for("attendance.participants", meeting_id=meeting.id, **_import_arg(participant_import.id)))


@bp.route("/meetings/<int:meeting_id>/participants/match", methods=["POST"])
@signed_in
def match_participant(meeting_id: int) -> ResponseReturnValue:
    meeting = _meeting_to_mark(meeting_id)
    form = ParticipantMatchForm()
    participant_id = form.participant_key
    participant = db_session.get(ImportedParticipant, participant_id) if participant_id is not None else None
    if participant is None or participant.participant_import.meeting_id != meeting.id:
        abort(404)
    participant_import = participant.participant_import
    form.set_choices([(e.id, e.employee.name) for e in participants_service.match_choices(meeting)])
    if not form.validate_on_submit():
        return _participants_page(meeting, participant_import, match_form=form, match_for=participant.id), 400
    enrolment = db_session.get(Enrolment, form.enrolment_id) if form.enrolment_id is not None else None
    try:
        participants_service.settle(current_user, participant, enrolment)
    except services.Stale:
        db_session.rollback()
        flash(_("Someone else has already matched this person; see below."), "info")
    except services.AttendanceError as error:
        db_session.rollback()
        form.enrolment.errors = [str(error)]
        return _participants_page(meeting, participant_import, match_form=form, match_for=participant.id), 400
    else:
        db_session.commit()
        flash(_("Matched: %(name)s.", name=participant.name or participant.email) if enrolment
              else _("Recorded as not a participant: %(name)s.", name=participant.name or participant.email),
              "success")
    return redirect(url_for("attendance.participants", meeting_id=meeting.id, **_import_arg(participant_import.id)))


@bp.route("/teaching")
@signed_in
def teaching() -> ResponseReturnValue:
    """Meetings this person teaches (HR sees every meeting of the coming weeks)."""
    stmt = (select(Meeting).join(TrainingSession, Meeting.session_id == TrainingSession.id)
            .where(TrainingSession.status == SessionStatus.SCHEDULED, Meeting.ends_at > now() - timedelta(days=60),
                   attendance_session_filter(current_user))
            .options(joinedload(Meeting.training_session).joinedload(TrainingSession.course))
            .order_by(Meeting.starts_at).limit(200))
    meetings = list(db_session.scalars(stmt).unique())
    return render_template("attendance/teaching.html", meetings=meetings,
                           unmatched=participants_service.unmatched_counts([m.id for m in meetings]))
