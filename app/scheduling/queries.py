"""Reads of sessions."""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from app.catalog.models import Course, CourseStatus
from app.core.clock import now
from app.core.db import db_session
from app.scheduling.models import Meeting, SessionStatus, TrainingSession, session_instructors


def upcoming_sessions_by_course(course_ids: list[int], *, include_cohort_only: bool = False,
                                per_course: int | None = None,
                                with_meetings: bool = False) -> dict[int, list[TrainingSession]]:
    """Upcoming sessions of the given courses, soonest first; with `per_course`, only that many
    of each, cut in SQL (a window function), so five years of future sessions are never loaded.
    With `with_meetings`, every session's meetings come in one more statement (not one each)."""
    if not course_ids:
        return {}
    conditions = [TrainingSession.course_id.in_(course_ids), TrainingSession.status == SessionStatus.SCHEDULED,
                  TrainingSession.starts_at > now()]
    if not include_cohort_only:
        conditions.append(TrainingSession.cohort_only.is_(False))
    if per_course is None:
        stmt = select(TrainingSession).where(*conditions).order_by(TrainingSession.starts_at)
    else:
        ranked = (select(TrainingSession.id, func.row_number().over(
            partition_by=TrainingSession.course_id, order_by=(TrainingSession.starts_at, TrainingSession.id))
            .label("place")).where(*conditions).subquery())
        stmt = (select(TrainingSession).join(ranked, ranked.c.id == TrainingSession.id)
                .where(ranked.c.place <= per_course).order_by(TrainingSession.starts_at))
    if with_meetings:
        stmt = stmt.options(selectinload(TrainingSession.meetings))
    grouped: dict[int, list[TrainingSession]] = {}
    for training_session in db_session.scalars(stmt):
        grouped.setdefault(training_session.course_id, []).append(training_session)
    return grouped


class UpcomingSeats(NamedTuple):
    """An upcoming session as a catalog card lists it: when, and how many seats are left."""

    course_id: int
    starts_at: datetime
    capacity: int
    seats_taken: int

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.seats_taken)


# Built once (the catalog asks on every view): the first `per_course` upcoming sessions of each
# course, cut in SQL by a window function, as plain columns rather than session objects.
_ranked_upcoming = (
    select(TrainingSession.course_id, TrainingSession.starts_at, TrainingSession.capacity,
           TrainingSession.seats_taken,
           func.row_number().over(partition_by=TrainingSession.course_id,
                                  order_by=(TrainingSession.starts_at, TrainingSession.id)).label("place"))
    .where(TrainingSession.course_id.in_(bindparam("course_ids", expanding=True)),
           TrainingSession.status == SessionStatus.SCHEDULED, TrainingSession.starts_at > bindparam("after"),
           TrainingSession.cohort_only.is_(False))
    .subquery()
)
_UPCOMING_SEATS = (
    select(_ranked_upcoming.c.course_id, _ranked_upcoming.c.starts_at, _ranked_upcoming.c.capacity,
           _ranked_upcoming.c.seats_taken)
    .where(_ranked_upcoming.c.place <= bindparam("per_course"))
    .order_by(_ranked_upcoming.c.starts_at, _ranked_upcoming.c.course_id)
)


def upcoming_seats_by_course(course_ids: list[int], per_course: int) -> dict[int, list[UpcomingSeats]]:
    """Course id -> its first `per_course` upcoming sessions (soonest first), seats as they are now."""
    if not course_ids:
        return {}
    grouped: dict[int, list[UpcomingSeats]] = {}
    for row in db_session.execute(_UPCOMING_SEATS, {"course_ids": course_ids, "after": now(),
                                                    "per_course": per_course}):
        grouped.setdefault(row.course_id, []).append(UpcomingSeats(*row))
    return grouped


def open_seat_course_ids() -> Select[Any]:
    return select(TrainingSession.course_id).where(
        TrainingSession.status == SessionStatus.SCHEDULED, TrainingSession.starts_at > now(),
        TrainingSession.cohort_only.is_(False), TrainingSession.enrolment_closes_at > now(),
        TrainingSession.seats_taken < TrainingSession.capacity)


def sessions_of_course(course_id: int) -> list[TrainingSession]:
    return list(db_session.scalars(
        select(TrainingSession).where(TrainingSession.course_id == course_id)
        .options(selectinload(TrainingSession.meetings), selectinload(TrainingSession.instructors))
        .order_by(TrainingSession.starts_at)))


def load_session(session_id: int) -> TrainingSession | None:
    return db_session.scalar(
        select(TrainingSession).where(TrainingSession.id == session_id)
        .options(selectinload(TrainingSession.meetings), selectinload(TrainingSession.instructors)))


def meetings_between(starts_at: datetime, ends_at: datetime, limit: int,
                     instructor_id: int | None = None) -> tuple[list[Meeting], int]:
    """Meetings of scheduled sessions under way between the two instants (a day's), earliest first,
    optionally only those of the sessions one person instructs: the first `limit` with their
    sessions and courses, and how many there are (one statement)."""
    conditions = [Meeting.starts_at < ends_at, Meeting.ends_at > starts_at,
                  TrainingSession.status == SessionStatus.SCHEDULED]
    if instructor_id is not None:
        conditions.append(TrainingSession.id.in_(select(session_instructors.c.session_id)
                                                 .where(session_instructors.c.employee_id == instructor_id)))
    rows = db_session.execute(
        select(Meeting, func.count().over().label("total"))
        .join(TrainingSession, Meeting.session_id == TrainingSession.id).where(*conditions)
        .options(contains_eager(Meeting.training_session).joinedload(TrainingSession.course))
        .order_by(Meeting.starts_at, Meeting.id).limit(limit)).unique().all()
    return [row.Meeting for row in rows], (rows[0].total if rows else 0)


def upcoming_sessions_page(course_id: int | None, after: tuple[datetime, int] | None,
                           limit: int) -> list[TrainingSession]:
    """Scheduled sessions still to start, open to everyone (not cohort-only), of published courses
    (or of one course), in (start, id) order: the first `limit` after `after` (the API's cursor
    paging). One statement, each with its course."""
    stmt = (select(TrainingSession).join(Course, TrainingSession.course_id == Course.id)
            .where(TrainingSession.status == SessionStatus.SCHEDULED, TrainingSession.starts_at > now(),
                   TrainingSession.cohort_only.is_(False), Course.status == CourseStatus.PUBLISHED)
            .options(contains_eager(TrainingSession.course)))
    if course_id is not None:
        stmt = stmt.where(TrainingSession.course_id == course_id)
    if after is not None:
        starts_at, session_id = after
        stmt = stmt.where(or_(TrainingSession.starts_at > starts_at,
                              and_(TrainingSession.starts_at == starts_at, TrainingSession.id > session_id)))
    return list(db_session.scalars(stmt.order_by(TrainingSession.starts_at, TrainingSession.id).limit(limit)))
