"""Writes of attendance. Every change is a move of app/attendance/transitions.py (where the
state machine is drawn): audited (before → after) once and announced, so completion is
re-evaluated whenever attendance changes, also after the fact. A mark is changed only from the
state the actor saw, so a double check-in, or a roster saved from an older page, never
overwrites what someone else recorded meanwhile."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.attendance import transitions
from app.attendance.checkin_codes import code_is_valid
from app.attendance.events import AttendanceChanged
from app.attendance.models import ATTENDED, AttendanceMark, AttendanceStatus, MarkSource
from app.auth.attempt_counter import count_failure, remaining_lock
from app.core.clock import now
from app.core.db import db_session
from app.core.events import emit
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee
from app.scheduling.models import Meeting
from app.web.locale import gettext as _

CHECK_IN_OPENS_BEFORE = timedelta(minutes=30)
CHECK_IN_GUESSES = 5
CHECK_IN_WINDOW = timedelta(minutes=10)
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)  # `attendance_rate` at it: every meeting counts


class AttendanceError(Exception):
    """A check-in or marking problem, fit to show the person."""


class AlreadyCheckedIn(AttendanceError):
    """The person's mark already says they attended (a second check-in, or two at once)."""


Stale = transitions.Stale
Seen = transitions.Seen
AS_READ: Any = object()  # set_mark: the mark as read now (no page in between)


def joined_before(enrolment: Enrolment, meeting: Meeting) -> bool:
    """Does this meeting count for the enrolment? Not if they got their place after it ended."""
    since = enrolment.confirmed_at or enrolment.requested_at
    return meeting.ends_at > since


@dataclass(frozen=True)
class Rate:
    attended: int
    counted: int  # held meetings that count (joined before; excused ones left out)

    @property
    def percent(self) -> int | None:
        return None if self.counted == 0 else round(100 * self.attended / self.counted)


def attendance_rate(enrolment: Enrolment, meetings: Iterable[Meeting], marks: dict[int, AttendanceMark],
                    at: datetime) -> Rate:
    attended = counted = 0
    for meeting in meetings:
        if not joined_before(enrolment, meeting):
            continue
        mark = marks.get(meeting.id)
        if mark is not None and mark.status == AttendanceStatus.EXCUSED:
            continue
        if mark is None and meeting.ends_at > at:
            continue  # not held yet
        counted += 1
        if mark is not None and mark.status in ATTENDED:
            attended += 1
    return Rate(attended, counted)


def rate_of(enrolment: Enrolment, at: datetime | None = None) -> Rate:
    return rates_of(enrolment, at)[0]


def rates_of(enrolment: Enrolment, at: datetime | None = None) -> tuple[Rate, Rate]:
    """The rate as of `at` (now), and the rate already secured: as it will stand when the session
    is over should the person attend nothing more (every meeting not marked yet counts as missed).
    Once the secured rate meets a minimum, no meeting still to come can take it below it; after
    the last meeting the two are the same. One read of the marks, as committed now."""
    marks = {m.meeting_id: m for m in db_session.scalars(
        select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment.id)
        .execution_options(populate_existing=True))}
    meetings = enrolment.training_session.meetings
    return (attendance_rate(enrolment, meetings, marks, at or now()),
            attendance_rate(enrolment, meetings, marks, _END_OF_TIME))


def current_mark(enrolment_id: int, meeting_id: int) -> AttendanceMark | None:
    """The mark as committed now (not as loaded earlier in this unit of work)."""
    return db_session.scalar(select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment_id,
                                                         AttendanceMark.meeting_id == meeting_id)
                             .execution_options(populate_existing=True))


def set_mark(actor: Employee | None, enrolment: Enrolment, meeting: Meeting, status: AttendanceStatus,
             remark: str = "", source: MarkSource = MarkSource.ROSTER, *, announce: bool = True,
             seen: Seen | None = AS_READ) -> bool:
    """Create or change the mark from `seen` (the mark as the actor saw it, None for none);
    returns True when something changed, False when it already is as asked. Raises `Stale`
    when the mark was made or changed by someone else since it was seen."""
    if meeting.session_id != enrolment.session_id:
        raise AttendanceError(_("This person is not enrolled in this session."))
    mark = current_mark(enrolment.id, meeting.id)
    now_seen = None if mark is None else Seen(mark.status, mark.remark)
    if now_seen == Seen(status, remark):
        return False
    if seen is AS_READ:
        seen = now_seen
    if seen != now_seen:
        raise Stale(f"{enrolment.id}:{meeting.id}")
    if mark is None:
        transitions.create(actor, enrolment, meeting, status, remark, source)
    else:
        assert seen is not None
        transitions.change(actor, enrolment, meeting, mark, seen, status, remark, source)
    if announce:
        emit(AttendanceChanged((enrolment.id,)))
    return True


def roster_enrolments(meeting: Meeting) -> list[Enrolment]:
    """The confirmed enrolments of the meeting's session, with their people (one statement)."""
    return list(db_session.scalars(
        select(Enrolment).where(Enrolment.session_id == meeting.session_id,
                                Enrolment.state == EnrolmentState.CONFIRMED)
        .options(joinedload(Enrolment.employee)).order_by(Enrolment.id)))


def mark_all_present(actor: Employee, meeting: Meeting) -> int:
    changed = []
    for enrolment in roster_enrolments(meeting):
        if not joined_before(enrolment, meeting):
            continue
        try:  # only where there is no mark yet: one made meanwhile (a check-in) stays
            if set_mark(actor, enrolment, meeting, AttendanceStatus.PRESENT, announce=False, seen=None):
                changed.append(enrolment.id)
        except Stale:
            continue
    if changed:
        emit(AttendanceChanged(tuple(changed)))
    return len(changed)


def check_in(employee: Employee, meeting: Meeting, code: str, secret: str, at: datetime | None = None) -> None:
    """Self check-in with the code on the instructor's screen, from the person's own session."""
    at = at or now()
    key = f"checkin:{employee.id}:{meeting.id}"
    if remaining_lock(key, CHECK_IN_GUESSES, CHECK_IN_WINDOW) is not None:
        raise AttendanceError(_("Too many wrong codes. Please wait a few minutes, or ask the instructor."))
    enrolment = db_session.scalar(select(Enrolment).where(
        Enrolment.session_id == meeting.session_id, Enrolment.employee_id == employee.id,
        Enrolment.state == EnrolmentState.CONFIRMED))
    if enrolment is None:
        raise AttendanceError(_("You are not enrolled in this session."))
    if not (meeting.starts_at - CHECK_IN_OPENS_BEFORE <= at <= meeting.ends_at):
        raise AttendanceError(_("Check-in is open from 30 minutes before the start until the end of the meeting."))
    if not code_is_valid(secret, meeting.id, code, at):
        count_failure(key, CHECK_IN_WINDOW, CHECK_IN_GUESSES)
        raise AttendanceError(_("The code is not right, or it has expired. Enter the code now on the screen."))
    status = AttendanceStatus.LATE if at > meeting.starts_at + timedelta(minutes=15) else AttendanceStatus.PRESENT
    for _attempt in range(2):  # once more if an instructor changed a non-attended mark meanwhile
        existing = current_mark(enrolment.id, meeting.id)
        if existing is not None and existing.status in ATTENDED:
            raise AlreadyCheckedIn(_("You have already checked in."))
        try:
            seen = None if existing is None else Seen(existing.status, existing.remark)
            set_mark(employee, enrolment, meeting, status, existing.remark if existing else "",
                     source=MarkSource.CHECK_IN, seen=seen)
            return
        except Stale:
            continue
    raise AlreadyCheckedIn(_("You have already checked in."))


def marks_for_meeting(meeting_id: int) -> dict[int, AttendanceMark]:
    return {m.enrolment_id: m for m in db_session.scalars(
        select(AttendanceMark).where(AttendanceMark.meeting_id == meeting_id))}


def marks_by_enrolment(enrolment_ids: list[int]) -> dict[int, dict[int, AttendanceMark]]:
    grouped: dict[int, dict[int, AttendanceMark]] = {}
    if not enrolment_ids:
        return grouped
    for mark in db_session.scalars(select(AttendanceMark).where(AttendanceMark.enrolment_id.in_(enrolment_ids))):
        grouped.setdefault(mark.enrolment_id, {})[mark.meeting_id] = mark
    return grouped


def present_count(meeting_id: int) -> int:
    return db_session.scalar(select(func.count()).select_from(AttendanceMark).where(
        AttendanceMark.meeting_id == meeting_id, AttendanceMark.status.in_(ATTENDED))) or 0
