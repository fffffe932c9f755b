"""Writes of attendance. Every change is audited (before → after) and announced, so completion
is re-evaluated whenever attendance changes, also after the fact."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.attendance.checkin_codes import code_is_valid
from app.attendance.events import AttendanceChanged
from app.attendance.models import ATTENDED, AttendanceMark, AttendanceStatus, MarkSource
from app.audit.services import record_event
from app.clock import now
from app.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.events import emit
from app.org.models import Employee
from app.scheduling.models import Meeting
from app.throttling import count_failure, remaining_lock

CHECK_IN_OPENS_BEFORE = timedelta(minutes=30)
CHECK_IN_GUESSES = 5
CHECK_IN_WINDOW = timedelta(minutes=10)


class AttendanceError(Exception):
    """A check-in or marking problem, fit to show the person."""


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
    marks = {m.meeting_id: m for m in db_session.scalars(
        select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment.id))}
    return attendance_rate(enrolment, enrolment.training_session.meetings, marks, at or now())


def set_mark(actor: Employee | None, enrolment: Enrolment, meeting: Meeting, status: AttendanceStatus,
             remark: str = "", source: MarkSource = MarkSource.ROSTER, *, announce: bool = True) -> bool:
    """Create or change the mark; returns True when something changed."""
    if meeting.session_id != enrolment.session_id:
        raise AttendanceError(_("This person is not enrolled in this session."))
    mark = db_session.scalar(select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment.id,
                                                         AttendanceMark.meeting_id == meeting.id))
    before = None if mark is None else {"status": mark.status.value, "remark": mark.remark}
    if mark is not None and mark.status == status and mark.remark == remark:
        return False
    if mark is None:
        mark = AttendanceMark(enrolment_id=enrolment.id, meeting_id=meeting.id, status=status, remark=remark,
                              source=source, marked_at=now(), marked_by_id=actor.id if actor else None)
        db_session.add(mark)
    else:
        mark.status, mark.remark, mark.source = status, remark, source
        mark.marked_at, mark.marked_by_id = now(), actor.id if actor else None
    db_session.flush()
    record_event(actor, "attendance.marked", "attendance", f"{enrolment.id}:{meeting.id}", before=before,
                 after={"status": status.value, "remark": remark, "source": source.value},
                 summary=enrolment.employee.employee_number if enrolment.employee else "")
    if announce:
        emit(AttendanceChanged((enrolment.id,)))
    return True


def roster_enrolments(meeting: Meeting) -> list[Enrolment]:
    return list(db_session.scalars(
        select(Enrolment).where(Enrolment.session_id == meeting.session_id,
                                Enrolment.state == EnrolmentState.CONFIRMED).order_by(Enrolment.id)))


def mark_all_present(actor: Employee, meeting: Meeting) -> int:
    changed = []
    for enrolment in roster_enrolments(meeting):
        if not joined_before(enrolment, meeting):
            continue
        exists = db_session.scalar(select(AttendanceMark.id).where(AttendanceMark.enrolment_id == enrolment.id,
                                                                   AttendanceMark.meeting_id == meeting.id))
        if exists is None and set_mark(actor, enrolment, meeting, AttendanceStatus.PRESENT, announce=False):
            changed.append(enrolment.id)
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
    existing = db_session.scalar(select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment.id,
                                                             AttendanceMark.meeting_id == meeting.id))
    if existing is not None and existing.status in ATTENDED:
        raise AttendanceError(_("You have already checked in."))
    status = AttendanceStatus.LATE if at > meeting.starts_at + timedelta(minutes=15) else AttendanceStatus.PRESENT
    try:
        with db_session.begin_nested():
            set_mark(employee, enrolment, meeting, status, source=MarkSource.CHECK_IN)
    except IntegrityError:
        raise AttendanceError(_("You have already checked in.")) from None


# --- web-meeting participant lists -----------------------------------------------------------


@dataclass
class ParticipantPreview:
    matched: list[tuple[int, str, str]] = field(default_factory=list)  # (line, e-mail, employee name)
    unmatched: list[tuple[int, str, str]] = field(default_factory=list)  # (line, e-mail or text, why)
    enrolment_ids: list[int] = field(default_factory=list)
    problem: str = ""


EMAIL_HEADERS = ("email", "e-mail", "mail", "メール", "メールアドレス", "user email", "attendee email",
                 "参加者のメール", "電子メール")


def _email_header(row: list[str]) -> int | None:
    """The position of the e-mail column if this row is a header (a label, no address in it)."""
    if any("@" in cell for cell in row):
        return None
    for position, cell in enumerate(row):
        label = cell.strip().lstrip("\ufeff").strip().lower()
        if (label in EMAIL_HEADERS or "email" in label or "e-mail" in label or label.endswith("mail")
                or "メール" in label):
            return position
    return None


def preview_participants(meeting: Meeting, raw: bytes) -> ParticipantPreview:
    """Match a web-meeting system's participant CSV to the meeting's roster by e-mail.

    Reads UTF-8 (with or without BOM), CP932 and UTF-16 (Teams), commas or tabs, and reports made
    of sections (a summary, then the participants): each header row sets the e-mail column for
    the rows under it."""
    from app.org.staff_csv import StaffFileError, decode

    preview = ParticipantPreview()
    try:
        text = raw.decode("utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else decode(raw)[0]
    except UnicodeDecodeError:
        preview.problem = _("The file is neither UTF-8 nor Shift_JIS (CP932).")
        return preview
    except StaffFileError as error:
        preview.problem = " ".join(p.message for p in error.problems)
        return preview
    text = text.lstrip("\ufeff")
    delimiter = "\t" if text.count("\t") > text.count(",") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    roster = {e.employee.email.lower(): e for e in roster_enrolments(meeting) if joined_before(e, meeting)}
    column = None
    seen: set[str] = set()
    for line, row in enumerate(rows, start=1):
        header = _email_header(row)
        if header is not None:
            column = header
            continue
        if column is None or column >= len(row) or not row[column].strip():
            continue
        email = row[column].strip().lower()
        if email in seen:
            continue
        seen.add(email)
        enrolment = roster.get(email)
        if enrolment is None:
            preview.unmatched.append((line, email, _("not enrolled in this session")))
        else:
            preview.matched.append((line, email, enrolment.employee.name))
            preview.enrolment_ids.append(enrolment.id)
    if column is None:
        preview.problem = _("No e-mail column was found in the file.")
    return preview


def apply_participants(actor: Employee, meeting: Meeting, enrolment_ids: list[int]) -> int:
    """Mark the matched people present. A mark that already says they attended (late, left
    early) is kept, and so is any remark: the list only proves presence."""
    changed = []
    existing = marks_for_meeting(meeting.id)
    for enrolment in db_session.scalars(select(Enrolment).where(Enrolment.id.in_(enrolment_ids),
                                                                Enrolment.session_id == meeting.session_id,
                                                                Enrolment.state == EnrolmentState.CONFIRMED)):
        mark = existing.get(enrolment.id)
        if not joined_before(enrolment, meeting) or (mark is not None and mark.status in ATTENDED):
            continue
        if set_mark(actor, enrolment, meeting, AttendanceStatus.PRESENT, mark.remark if mark else "",
                    source=MarkSource.IMPORT, announce=False):
            changed.append(enrolment.id)
    if changed:
        emit(AttendanceChanged(tuple(changed)))
    return len(changed)


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
