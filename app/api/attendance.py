"""A meeting's roster and its attendance marks, read and set through the same services as the web's
roster (app/attendance/views.py `roster`), for the same people: HR, and the instructors of the
meeting's session (`can_mark_attendance`). Anyone else is told the meeting does not exist (404).

- GET /meetings/{id}/attendance: the roster (the session's confirmed places, as the web's) with
  each person's mark, and per row the ETag that a change of that mark sends back as If-Match.
- PUT /meetings/{id}/attendance/{enrolment id}: set one mark (`services.set_mark`, which audits
  it and announces it, so completion follows at once). If-Match is required: the ETag of the
  row as read, "unmarked" included, so a client that read a row is refused (412) when someone
  marked it meanwhile (a check-in, another instructor). The mark changes only from the state
  the client saw (the guarded transition of app/attendance/transitions.py): of two changes at
  once, one wins and the other is a 412.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import Response, abort, jsonify
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import String

from app.api.errors import problem, problem_doc
from app.api.paging import etag_matches, if_match_required, make_etag
from app.attendance import services
from app.attendance.models import AttendanceMark, AttendanceStatus, MarkSource
from app.core.db import db_session
from app.core.text_safety import find_unsafe
from app.enrollment.models import Enrolment
from app.permissions import api_person, api_token, can_mark_attendance
from app.scheduling.models import Meeting
from app.web.locale import gettext as _
from app.web.locale import lazy_gettext as _l

bp = Blueprint("api_attendance", __name__, url_prefix="/api/v1",
               description="Attendance marks of a meeting, for its instructors and HR.")

STATUSES = [status.value for status in AttendanceStatus]
SOURCES = [source.value for source in MarkSource]
_REMARK = AttendanceMark.__table__.c.remark.type
assert isinstance(_REMARK, String) and _REMARK.length is not None
NOTE_MAX: int = _REMARK.length  # the column's length, as the web roster's remark field (REMARK_MAX)



# What `find_unsafe` refuses in one line, said for the document (a test checks they agree). Lone surrogates,
# which it refuses too, are left out: no UTF-8 text holds one, and validators' regex engines cannot say them.
SINGLE_LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"


def _note_is_safe(value: str) -> None:
    """The web roster's remark rule: at most NOTE_MAX characters, one line, no control characters."""
    if len(value) > NOTE_MAX:
        raise ma.ValidationError(_("Use at most %(max)d characters (this has %(length)d).",
                                   max=NOTE_MAX, length=len(value)))
    unsafe = find_unsafe(value)
    if unsafe is not None:
        raise ma.ValidationError(unsafe.describe())


# --- shapes ----------------------------------------------------------------------------------------


class AttendanceRowSchema(ma.Schema):
    enrolment_id = fields.Integer(required=True)
    employee_number = fields.String(required=True)
    name = fields.String(required=True)
    counted = fields.Boolean(required=True, metadata={
        "description": "False for someone who got their place after this meeting ended: it does not count "
                       "for them and their mark cannot be set (as on the web roster)."})
    status = fields.String(required=True, allow_none=True, validate=validate.OneOf(STATUSES),
                           metadata={"description": "null while unmarked."})
    note = fields.String(required=True)
    source = fields.String(required=True, allow_none=True, validate=validate.OneOf(SOURCES),
                           metadata={"description": "roster, check_in (the person's own QR check-in) or import "
                                                    "(a web-meeting participant list); null while unmarked."})
    marked_at = fields.AwareDateTime(required=True, allow_none=True)
    etag = fields.String(required=True, metadata={
        "description": "The row's ETag (also while unmarked): send it as If-Match to change this mark."})


class MeetingAttendanceSchema(ma.Schema):
    meeting_id = fields.Integer(required=True)
    session_id = fields.Integer(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    items = fields.List(fields.Nested(AttendanceRowSchema), required=True,
                        metadata={"description": "The session's confirmed participants, in enrolment order."})


class MarkRequestSchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(
        STATUSES, error=_l("Choose one of the statuses in the list.")))
    note = fields.String(load_default="", validate=_note_is_safe, metadata={
        "description": f"A remark, one line of at most {NOTE_MAX} characters, without control characters or "
                       "bidirectional controls (app/core/text_safety.py); empty by default.",
        "maxLength": NOTE_MAX, "pattern": SINGLE_LINE_PATTERN})


class MarkIfMatchHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # every other header of the request

    if_match = fields.String(data_key="If-Match", required=True, validate=validate.Length(min=1, max=200),
                             metadata={"description": "The row's ETag as you read it (the roster's `etag`)."})


# --- rows ------------------------------------------------------------------------------------------


def mark_etag(enrolment_id: int, meeting_id: int, mark: AttendanceMark | None) -> str:
    """The ETag of one row: of the mark as recorded, or of "no mark yet" (stable, so that a client
    that read the row unmarked is refused once anyone has marked it)."""
    if mark is None:
        return make_etag("attendance", enrolment_id, meeting_id, "unmarked")
    return make_etag("attendance", enrolment_id, meeting_id, mark.id, mark.status.value, mark.remark,
                     mark.source.value, mark.marked_at.isoformat())


def _row(enrolment: Enrolment, meeting: Meeting, mark: AttendanceMark | None) -> dict[str, Any]:
    return {"enrolment_id": enrolment.id, "employee_number": enrolment.employee.employee_number,
            "name": enrolment.employee.name, "counted": services.joined_before(enrolment, meeting),
            "status": mark.status.value if mark else None, "note": mark.remark if mark else "",
            "source": mark.source.value if mark else None, "marked_at": mark.marked_at if mark else None,
            "etag": mark_etag(enrolment.id, meeting.id, mark)}


def _meeting_to_mark(meeting_id: int) -> Meeting:
    """A meeting whose attendance the caller takes; anyone else's does not exist here (404)."""
    meeting = db_session.get(Meeting, meeting_id)
    if meeting is None or not can_mark_attendance(api_person(), meeting):
        abort(404)
    return meeting


def _with_meeting_to_mark(view: Callable[..., Response]) -> Callable[..., Response]:
    """404 for a meeting the caller does not take, before the body is judged (which would say 422)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        _meeting_to_mark(kwargs["meeting_id"])
        return view(*args, **kwargs)

    return wrapper



# --- endpoints -------------------------------------------------------------------------------------


@bp.route("/meetings/<int:meeting_id>/attendance", methods=["GET"])
@api_token("read", person=True)
@bp.response(200, MeetingAttendanceSchema)
@bp.alt_response(404, **problem_doc("No such meeting among those the caller takes (HR: every meeting; an instructor: "
                                    "those of the sessions they teach)."))
def get_meeting_attendance(meeting_id: int) -> dict[str, Any]:
    """The meeting's roster, as the web's: the session's confirmed participants with their marks
    (null while unmarked) and each row's ETag. For HR and the session's instructors."""
    meeting = _meeting_to_mark(meeting_id)
    enrolments = services.roster_enrolments(meeting)
    marks = services.marks_for_meeting(meeting.id)
    return {"meeting_id": meeting.id, "session_id": meeting.session_id, "starts_at": meeting.starts_at,
            "ends_at": meeting.ends_at, "items": [_row(e, meeting, marks.get(e.id)) for e in enrolments]}


@bp.route("/meetings/<int:meeting_id>/attendance/<int:enrolment_id>", methods=["PUT"])
@api_token("attend", person=True)
@if_match_required
@_with_meeting_to_mark
@bp.arguments(MarkIfMatchHeaderSchema, location="headers", as_kwargs=True)
@bp.arguments(MarkRequestSchema, location="json", as_kwargs=True)
@bp.response(200, AttendanceRowSchema, headers={"ETag": {"schema": {"type": "string"}}})
@bp.alt_response(404, **problem_doc("No such meeting among those the caller takes, or no such place in its session."))
@bp.alt_response(409, **problem_doc("Refused by the roster's rules (the place is not confirmed, or was "
                                    "taken after this meeting)."))
@bp.alt_response(412, **problem_doc("If-Match does not match the row's current ETag: someone marked it meanwhile."))
@bp.alt_response(428, **problem_doc("If-Match is missing."))
def set_meeting_attendance(meeting_id: int, enrolment_id: int, if_match: str, status: str,
                           note: str = "") -> Response:
    """Set one person's mark for the meeting, as the web roster saves it (audited; completion
    follows at once). If-Match must carry the row's ETag as read."""
    actor = api_person()
    meeting = _meeting_to_mark(meeting_id)  # loaded by `_with_meeting_to_mark`: no second statement
    enrolment = db_session.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.session_id != meeting.session_id:
        abort(404)
    if enrolment.id not in {e.id for e in services.roster_enrolments(meeting)}:
        return _refused(_("This person is not enrolled in this session."))
    if not services.joined_before(enrolment, meeting):
        return _refused(_("Enrolled after this meeting: not counted"))
    mark = services.current_mark(enrolment.id, meeting.id)
    if not etag_matches(if_match, mark_etag(enrolment.id, meeting.id, mark)):
        abort(412)
    seen = None if mark is None else services.Seen(mark.status, mark.remark)
    try:
        with db_session.begin_nested():
            services.set_mark(actor, enrolment, meeting, AttendanceStatus(status), note, seen=seen)
    except services.Stale:
        abort(412)  # marked meanwhile, between our read and our change: nothing was changed
    except services.AttendanceError as error:
        return _refused(str(error))
    mark = services.current_mark(enrolment.id, meeting.id)
    db_session.commit()
    response = jsonify(AttendanceRowSchema().dump(_row(enrolment, meeting, mark)))
    response.headers["ETag"] = mark_etag(enrolment.id, meeting.id, mark)
    return response


def _refused(detail: str) -> Response:
    """A 409 after which nothing changed but the request's count (app/api/auth.py)."""
    db_session.commit()
    return problem(409, detail)
