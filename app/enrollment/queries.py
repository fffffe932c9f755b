"""Reads of enrolments: My learning, approvals, rosters, calendar feeds."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import contains_eager, joinedload

from app.audit.models import AuditEvent
from app.catalog.models import Assignment, AssignmentStatus
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import (
    ApprovalStage,
    CalendarFeed,
    Enrolment,
    EnrolmentEvent,
    EnrolmentState,
    is_active_place,
)
from app.org.models import Employee, Unit
from app.permissions import awaiting_decision_filter
from app.scheduling.models import SessionStatus, TrainingSession


def _with_session() -> tuple[Any, Any]:
    return (joinedload(Enrolment.training_session).selectinload(TrainingSession.meetings),
            joinedload(Enrolment.course))


def positions(session_id: int) -> dict[int, int]:
    """Waitlist place of every live request of a session that has no seat, by enrolment id."""
    ids = db_session.scalars(select(Enrolment.id).where(
        Enrolment.session_id == session_id, is_active_place(),
        Enrolment.holds_seat.is_(False)).order_by(Enrolment.id)).all()
    return {enrolment_id: index for index, enrolment_id in enumerate(ids, start=1)}


def positions_for(enrolments: list[Enrolment]) -> dict[int, int]:
    """Waitlist places of the given enrolments, in one statement (a window function)."""
    waiting = [e for e in enrolments if e.is_active and not e.holds_seat]
    if not waiting:
        return {}
    ranked = (select(Enrolment.id.label("id"), func.row_number().over(
        partition_by=Enrolment.session_id, order_by=Enrolment.id).label("place"))
        .where(Enrolment.session_id.in_({e.session_id for e in waiting}), is_active_place(),
               Enrolment.holds_seat.is_(False)).subquery())
    rows = db_session.execute(select(ranked.c.id, ranked.c.place).where(ranked.c.id.in_([e.id for e in waiting])))
    return {row.id: row.place for row in rows}


@dataclass
class MyLearning:
    assignments: list[Assignment] = field(default_factory=list)
    upcoming: list[Enrolment] = field(default_factory=list)  # confirmed, not yet over
    waiting: list[Enrolment] = field(default_factory=list)  # waitlisted
    pending: list[Enrolment] = field(default_factory=list)  # awaiting approval
    history: list[Enrolment] = field(default_factory=list)  # past, cancelled, declined
    positions: dict[int, int] = field(default_factory=dict)
    enrolled_course_ids: set[int] = field(default_factory=set)
    course_states: dict[int, str] = field(default_factory=dict)  # course id -> live enrolment state


# My learning's two reads, built once (every employee opens the page; the person is a parameter).
_MY_ASSIGNMENTS = (select(Assignment).where(Assignment.employee_id == bindparam("employee_id"),
                                            Assignment.status == AssignmentStatus.ACTIVE)
                   .options(joinedload(Assignment.course)).order_by(Assignment.due_on))
_MY_ENROLMENTS = (select(Enrolment).where(Enrolment.employee_id == bindparam("employee_id"))
                  .options(*_with_session()).order_by(Enrolment.id.desc()))


def my_learning(employee: Employee) -> MyLearning:
    result = MyLearning()
    result.assignments = list(db_session.scalars(_MY_ASSIGNMENTS, {"employee_id": employee.id}))
    enrolments = list(db_session.scalars(_MY_ENROLMENTS, {"employee_id": employee.id}).unique())
    current = now()
    for enrolment in enrolments:
        training_session = enrolment.training_session
        if enrolment.is_active:
            result.enrolled_course_ids.add(enrolment.course_id)
            result.course_states[enrolment.course_id] = enrolment.state.value
        if enrolment.state == EnrolmentState.PENDING:
            result.pending.append(enrolment)
        elif enrolment.state == EnrolmentState.WAITLISTED:
            result.waiting.append(enrolment)
        elif enrolment.state == EnrolmentState.CONFIRMED and training_session.ends_at > current:
            result.upcoming.append(enrolment)
        else:
            result.history.append(enrolment)
    result.upcoming.sort(key=lambda e: e.training_session.starts_at)
    result.positions = positions_for(result.pending + result.waiting)
    return result


def events_of(enrolment_id: int) -> list[EnrolmentEvent]:
    return list(db_session.scalars(select(EnrolmentEvent).where(EnrolmentEvent.enrolment_id == enrolment_id)
                                   .options(joinedload(EnrolmentEvent.actor)).order_by(EnrolmentEvent.id)))


def load_enrolment(enrolment_id: int) -> Enrolment | None:
    return db_session.scalar(select(Enrolment).where(Enrolment.id == enrolment_id)
                             .options(*_with_session(), joinedload(Enrolment.employee)))


def approvals_for(user: Employee) -> list[Enrolment]:
    """Requests waiting for this person: their subtree's at the manager stage; HR's stage for HR
    (never their own: `permissions.awaiting_decision_filter`)."""
    return list(db_session.scalars(
        select(Enrolment).where(awaiting_decision_filter(user))
        .options(*_with_session(), joinedload(Enrolment.employee))
        .order_by(Enrolment.requested_at, Enrolment.id)).unique())


def roster(session_id: int) -> list[Enrolment]:
    return list(db_session.scalars(
        select(Enrolment).where(Enrolment.session_id == session_id)
        .options(joinedload(Enrolment.employee)).order_by(Enrolment.id)).unique())


def viewer_enrolments(employee_id: int, course_id: int) -> list[Enrolment]:
    return list(db_session.scalars(select(Enrolment).where(
        Enrolment.employee_id == employee_id, Enrolment.course_id == course_id).order_by(Enrolment.id.desc())))


def feed_enrolments(employee_id: int) -> list[Enrolment]:
    """Everything worth showing in a calendar: live places, and ended ones (sent as cancelled)."""
    return list(db_session.scalars(
        select(Enrolment).where(Enrolment.employee_id == employee_id).options(*_with_session())
        .order_by(Enrolment.id)).unique())


def calendar_feed(employee_id: int) -> CalendarFeed | None:
    return db_session.get(CalendarFeed, employee_id)


def feed_by_token(token: str) -> CalendarFeed | None:
    return db_session.scalar(select(CalendarFeed).where(CalendarFeed.token == token))


REROUTED_ACTION = "enrollment.approval_rerouted"  # the audit trail of a request handed to a new head


@dataclass(frozen=True)
class HandedOver:
    to_approver: Employee | None  # None: to HR, no head being left above the person
    at: datetime


def handed_over_from(enrolment_id: int, approver_id: int) -> HandedOver | None:
    """The last time this request was handed away from `approver_id` after a transfer (from the
    audit trail), or None if it never was theirs to hand over."""
    events = db_session.scalars(select(AuditEvent).where(
        AuditEvent.target_type == "enrolment", AuditEvent.target_id == str(enrolment_id),
        AuditEvent.action == REROUTED_ACTION).order_by(AuditEvent.id.desc()))
    for event in events:
        if (event.before or {}).get("approver_id") == approver_id:
            to_id = (event.after or {}).get("approver_id")
            return HandedOver(db_session.get(Employee, to_id) if to_id else None, event.occurred_at)
    return None


# --- the home page: a few of each, with how many there are (each a fixed number of statements) ----


def upcoming_sessions_for(employee_id: int, limit: int, at: datetime | None = None) -> tuple[list[Enrolment], int]:
    """The person's confirmed places in scheduled sessions not yet over, soonest first: the first
    `limit` with their sessions, courses and meetings, and how many there are in all (two
    statements: the places with a window count, then the meetings of those few sessions)."""
    at = at or now()
    rows = db_session.execute(
        select(Enrolment, func.count().over().label("total"))
        .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
        .where(Enrolment.employee_id == employee_id, Enrolment.state == EnrolmentState.CONFIRMED,
               TrainingSession.status == SessionStatus.SCHEDULED, TrainingSession.ends_at > at)
        .options(contains_eager(Enrolment.training_session).selectinload(TrainingSession.meetings),
                 joinedload(Enrolment.course))
        .order_by(TrainingSession.starts_at, Enrolment.id).limit(limit)).unique().all()
    return [row.Enrolment for row in rows], (rows[0].total if rows else 0)


def waitlist_places_for(employee_id: int, limit: int,
                        at: datetime | None = None) -> tuple[list[tuple[Enrolment, int]], int]:
    """The person's live places without a seat (waitlisted, or requested while the session is
    full) in sessions still to come, each with its waitlist number, soonest session first; the
    first `limit` and how many there are (one statement: the numbers are a window over the
    waiting places of those sessions alone)."""
    at = at or now()
    waiting = (Enrolment.holds_seat.is_(False), is_active_place())
    their_sessions = select(Enrolment.session_id).where(Enrolment.employee_id == employee_id, *waiting)
    ranked = (select(Enrolment.id.label("id"), Enrolment.employee_id.label("employee_id"),
                     func.row_number().over(partition_by=Enrolment.session_id, order_by=Enrolment.id).label("place"))
              .where(Enrolment.session_id.in_(their_sessions), *waiting).subquery())
    rows = db_session.execute(
        select(Enrolment, ranked.c.place, func.count().over().label("total"))
        .join(ranked, ranked.c.id == Enrolment.id)
        .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
        .where(ranked.c.employee_id == employee_id, TrainingSession.status == SessionStatus.SCHEDULED,
               TrainingSession.starts_at > at)
        .options(contains_eager(Enrolment.training_session), joinedload(Enrolment.course))
        .order_by(TrainingSession.starts_at, Enrolment.id).limit(limit)).unique().all()
    return [(row.Enrolment, row.place) for row in rows], (rows[0].total if rows else 0)


def requests_to_decide(user: Employee, stage: ApprovalStage, limit: int) -> tuple[list[Enrolment], int]:
    """Requests waiting for `user`'s decision at one stage (`permissions.awaiting_decision_filter`:
    never their own), the oldest first: the first `limit` with the person, course and session, and
    how many there are (one statement)."""
    rows = db_session.execute(
        select(Enrolment, func.count().over().label("total"))
        .where(awaiting_decision_filter(user), Enrolment.approval_stage == stage)
        .options(joinedload(Enrolment.training_session), joinedload(Enrolment.course),
                 joinedload(Enrolment.employee).lazyload(Employee.role_grants))  # the name is shown, not the roles
        .order_by(Enrolment.requested_at, Enrolment.id).limit(limit)).unique().all()
    return [row.Enrolment for row in rows], (rows[0].total if rows else 0)


def live_places(session_id: int) -> list[Enrolment]:
    """The session's live places (confirmed, waitlisted, pending) with their people and units, in
    arrival order: who cancelling the session ends and tells (one statement)."""
    return list(db_session.scalars(
        select(Enrolment).where(Enrolment.session_id == session_id, is_active_place())
        .options(joinedload(Enrolment.employee).joinedload(Employee.unit)).order_by(Enrolment.id)).unique())


def waiting_for_manager(*, employee_ids: Collection[int] = (), approver_id: int | None = None,
                        unit_path: str | None = None) -> list[Enrolment]:
    """Requests waiting at the manager's stage: of these people, or (with `approver_id`) for that
    approver, optionally only of people in the units under `unit_path`; with the person, course
    and session, oldest first (one statement). What a transfer or a change of head hands over."""
    conditions = [Enrolment.state == EnrolmentState.PENDING, Enrolment.approval_stage == ApprovalStage.MANAGER]
    if employee_ids:
        conditions.append(Enrolment.employee_id.in_(set(employee_ids)))
    if approver_id is not None:
        conditions.append(Enrolment.approver_id == approver_id)
    if not employee_ids and approver_id is None:
        return []
    stmt = select(Enrolment).join(Employee, Enrolment.employee_id == Employee.id).where(*conditions)
    if unit_path is not None:
        stmt = stmt.join(Unit, Employee.unit_id == Unit.id).where(Unit.path.startswith(unit_path))
    return list(db_session.scalars(stmt.options(contains_eager(Enrolment.employee), joinedload(Enrolment.course),
                                                joinedload(Enrolment.training_session))
                                   .order_by(Enrolment.requested_at, Enrolment.id)).unique())


def waitlist_lengths(session_ids: Collection[int]) -> dict[int, int]:
    """Live requests waiting for a seat, per session (one statement; sessions with none left out)."""
    if not session_ids:
        return {}
    rows = db_session.execute(select(Enrolment.session_id, func.count()).where(
        Enrolment.session_id.in_(list(session_ids)), is_active_place(), Enrolment.holds_seat.is_(False))
        .group_by(Enrolment.session_id))
    return {row[0]: row[1] for row in rows}


def enrolments_page(employee_id: int, before_id: int | None, limit: int) -> list[Enrolment]:
    """Someone's enrolments, newest first, the first `limit` before `before_id` (the API's cursor
    paging), each with its session and course (one statement)."""
    stmt = (select(Enrolment).where(Enrolment.employee_id == employee_id)
            .options(joinedload(Enrolment.training_session), joinedload(Enrolment.course)))
    if before_id is not None:
        stmt = stmt.where(Enrolment.id < before_id)
    return list(db_session.scalars(stmt.order_by(Enrolment.id.desc()).limit(limit)))
