"""Reads of enrolments: My learning, approvals, rosters, calendar feeds."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from app.audit.models import AuditEvent
from app.catalog.models import Assignment, AssignmentStatus
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import (
    CalendarFeed,
    Enrolment,
    EnrolmentEvent,
    EnrolmentState,
    is_active_place,
)
from app.org.models import Employee
from app.permissions import awaiting_decision_filter
from app.scheduling.models import TrainingSession


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
