"""Reads of attendance that other pages compose (My learning, the enrolment page)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, select

from app.attendance.models import ATTENDED, AttendanceMark
from app.attendance.services import CHECK_IN_OPENS_BEFORE
from app.catalog.models import Course
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.scheduling.models import Meeting, SessionStatus, TrainingSession


def checkin_is_open(meeting: Meeting, at: datetime) -> bool:
    """Whether the meeting's self check-in is open at `at` (`services.check_in`'s window)."""
    return meeting.starts_at - CHECK_IN_OPENS_BEFORE <= at <= meeting.ends_at


def checked_in(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these (enrolment id, meeting id) have a mark that says attended: one statement,
    none for no pairs."""
    wanted = set(pairs)
    if not wanted:
        return set()
    rows = db_session.execute(select(AttendanceMark.enrolment_id, AttendanceMark.meeting_id).where(
        AttendanceMark.enrolment_id.in_(sorted({e for e, _m in wanted})),
        AttendanceMark.meeting_id.in_(sorted({m for _e, m in wanted})), AttendanceMark.status.in_(ATTENDED)))
    return {(row.enrolment_id, row.meeting_id) for row in rows} & wanted


@dataclass(frozen=True)
class OpenCheckIn:
    """A meeting of the person's whose self check-in is open now."""

    meeting_id: int
    enrolment_id: int
    course: Course
    starts_at: datetime
    ends_at: datetime
    is_checked_in: bool  # their mark already says they attended


def _open_check_ins_statement(*, one_place: bool) -> Select[*tuple[Any, ...]]:
    conditions = [Enrolment.employee_id == bindparam("employee_id"), Enrolment.state == EnrolmentState.CONFIRMED,
                  TrainingSession.status == SessionStatus.SCHEDULED,
                  Meeting.starts_at <= bindparam("opens_until"), Meeting.ends_at >= bindparam("at")]
    if one_place:
        conditions.append(Enrolment.id == bindparam("enrolment_id"))
    return (select(Meeting.id, Meeting.starts_at, Meeting.ends_at, Enrolment.id.label("enrolment_id"), Course,
                   AttendanceMark.status)
            .join(Enrolment, Enrolment.session_id == Meeting.session_id)
            .join(TrainingSession, TrainingSession.id == Meeting.session_id)
            .join(Course, Course.id == Enrolment.course_id)
            .outerjoin(AttendanceMark, and_(AttendanceMark.enrolment_id == Enrolment.id,
                                            AttendanceMark.meeting_id == Meeting.id))
            .where(*conditions).order_by(Meeting.starts_at, Meeting.id))


# Built once, their values as parameters: My learning and the home page run them on every view.
_OPEN_CHECK_INS = _open_check_ins_statement(one_place=False)
_OPEN_CHECK_INS_OF_PLACE = _open_check_ins_statement(one_place=True)


def open_check_ins(employee_id: int, at: datetime | None = None, *,
                   enrolment_id: int | None = None) -> list[OpenCheckIn]:
    """The meetings the person may check in to now (`services.check_in`'s window: from
    CHECK_IN_OPENS_BEFORE the start to the end) in scheduled sessions where they hold a confirmed
    place (only that place's with `enrolment_id`), the earliest first, with whether they have
    checked in already: one statement, however many there are."""
    at = at or now()
    values: dict[str, Any] = {"employee_id": employee_id, "at": at, "opens_until": at + CHECK_IN_OPENS_BEFORE}
    statement = _OPEN_CHECK_INS
    if enrolment_id is not None:
        statement, values["enrolment_id"] = _OPEN_CHECK_INS_OF_PLACE, enrolment_id
    rows = db_session.execute(statement, values).all()
    return [OpenCheckIn(row.id, row.enrolment_id, row.Course, row.starts_at, row.ends_at, row.status in ATTENDED)
            for row in rows]
