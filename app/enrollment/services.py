"""Writes to enrolments. Seats are claimed with a conditional UPDATE (ARCHITECTURE.md rule 4);
the partial unique index settles double submissions; every transition is recorded and announced.

Callers that claim seats start their transaction with `app.db.begin_write_transaction()` so that
on SQLite the whole unit of work holds the write lock from its first statement.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from app.audit.services import record_event
from app.clock import now
from app.db import db_session
from app.enrollment.events import EnrolmentTransitioned
from app.enrollment.models import (
    ACTIVE_STATES,
    ApprovalStage,
    Enrolment,
    EnrolmentEvent,
    EnrolmentState,
)
from app.events import emit
from app.org.models import Employee, RoleName
from app.org.queries import manager_of
from app.permissions import can_manage_employee, has_role
from app.scheduling.models import ApprovalPolicy, Meeting, SessionStatus, TrainingSession


class EnrolmentError(Exception):
    """Why an enrolment action cannot be done, fit to show the user."""


@dataclass
class EnrolResult:
    enrolment: Enrolment
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WaitlistPolicy:
    auto_promote_cutoff: timedelta  # no automatic promotion closer than this to the start


DEFAULT_POLICY = WaitlistPolicy(auto_promote_cutoff=timedelta(hours=24))


# --- seats -----------------------------------------------------------------------------------


def _claim_seat(session_id: int) -> bool:
    result = db_session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == session_id, TrainingSession.status == SessionStatus.SCHEDULED,
               TrainingSession.seats_taken < TrainingSession.capacity)
        .values(seats_taken=TrainingSession.seats_taken + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _release_seat(session_id: int) -> None:
    db_session.execute(
        update(TrainingSession).where(TrainingSession.id == session_id, TrainingSession.seats_taken > 0)
        .values(seats_taken=TrainingSession.seats_taken - 1).execution_options(synchronize_session=False)
    )


def _transition(enrolment: Enrolment, to_state: EnrolmentState, actor: Employee | None, kind: str,
                note: str = "", *, is_new: bool = False) -> None:
    from_state = None if is_new else enrolment.state.value
    enrolment.state = to_state
    if to_state == EnrolmentState.CONFIRMED and enrolment.confirmed_at is None:
        enrolment.confirmed_at = now()
    if to_state in (EnrolmentState.CANCELLED, EnrolmentState.DECLINED):
        enrolment.ended_at = now()
        enrolment.end_reason = note[:500]
    db_session.add(EnrolmentEvent(enrolment_id=enrolment.id, occurred_at=now(),
                                  actor_id=actor.id if actor else None, from_state=from_state,
                                  to_state=to_state.value, note=f"{kind}: {note}"[:500] if note else kind))
    emit(EnrolmentTransitioned(enrolment.id, from_state, to_state.value, actor.id if actor else None, kind, note))


def waitlist_position(enrolment: Enrolment) -> int | None:
    """1-based place among the live requests of the session that have no seat yet."""
    if not enrolment.is_active or enrolment.holds_seat:
        return None
    ahead = db_session.scalar(
        select(func.count()).select_from(Enrolment).where(
            Enrolment.session_id == enrolment.session_id, Enrolment.state.in_(ACTIVE_STATES),
            Enrolment.holds_seat.is_(False), Enrolment.id < enrolment.id)
    ) or 0
    return ahead + 1


# --- enrol -----------------------------------------------------------------------------------


def _initial_stage(actor: Employee, employee: Employee, policy: ApprovalPolicy) -> tuple[ApprovalStage, Employee | None]:
    """Who must still approve, given who is asking. A manager enrolling their own staff has
    approved by doing so; HR enrolling anyone has approved every stage."""
    if policy == ApprovalPolicy.NONE:
        return ApprovalStage.NOT_REQUIRED, None
    manager = manager_of(employee)
    if has_role(actor, RoleName.HR) and actor.id != employee.id:
        return ApprovalStage.APPROVED, manager
    manager_done = actor.id != employee.id and can_manage_employee(actor, employee)
    if manager_done or manager is None:
        if policy == ApprovalPolicy.MANAGER_THEN_HR or manager is None:
            return ApprovalStage.HR, manager
        return ApprovalStage.APPROVED, manager
    return ApprovalStage.MANAGER, manager


def enrol(
    actor: Employee,
    employee: Employee,
    session: TrainingSession,
    *,
    completed_course_ids: Iterable[int] = (),
    override_rules: bool = False,
) -> EnrolResult:
    """Request a place for `employee` in `session` (the actor may be them, their manager, or HR).

    Rules: the session is scheduled and its window open, the grade is targeted, prerequisites are
    done (HR may override these three), and no other live enrolment in the same course exists.
    A free seat is taken at once; otherwise the request joins the waitlist in arrival order.
    """
    if not employee.is_active:
        raise EnrolmentError(_("%(name)s is not an active employee.", name=employee.name))
    if session.status != SessionStatus.SCHEDULED:
        raise EnrolmentError(_("This session has been cancelled."))
    course = session.course
    current = now()
    if session.starts_at <= current:
        raise EnrolmentError(_("This session has already started."))
    if not override_rules:
        if current < session.enrolment_opens_at:
            raise EnrolmentError(_("Enrolment opens on %(date)s.", date=_local(session.enrolment_opens_at)))
        if current >= session.enrolment_closes_at:
            raise EnrolmentError(_("Enrolment closed on %(date)s.", date=_local(session.enrolment_closes_at)))
        targets = {g.id for g in course.target_grades}
        if targets and employee.grade_id not in targets:
            raise EnrolmentError(_("This course is not for %(name)s's grade.", name=employee.name))
        missing = [p for p in course.prerequisites if p.id not in set(completed_course_ids)]
        if missing:
            raise EnrolmentError(_("Complete %(titles)s first.", titles="、".join(p.title_ja for p in missing)))
    existing = db_session.scalar(select(Enrolment).where(
        Enrolment.employee_id == employee.id, Enrolment.course_id == course.id,
        Enrolment.state.in_(ACTIVE_STATES)))
    if existing is not None:
        raise EnrolmentError(_("%(name)s already has a place or request in this course (%(when)s).",
                               name=employee.name, when=_local(existing.training_session.starts_at)))

    stage, approver = _initial_stage(actor, employee, session.approval_policy)
    try:
        with db_session.begin_nested():
            seat = _claim_seat(session.id)
            enrolment = Enrolment(
                session_id=session.id, course_id=course.id, course_version=course.version,
                employee_id=employee.id, state=EnrolmentState.PENDING, holds_seat=seat, approval_stage=stage,
                approver_id=approver.id if approver else None,
                requested_by_id=actor.id if actor.id != employee.id else None, requested_at=current,
            )
            db_session.add(enrolment)
            db_session.flush()
    except IntegrityError:
        raise EnrolmentError(_("%(name)s already has a place or request in this course.", name=employee.name)) from None

    approved = stage in (ApprovalStage.NOT_REQUIRED, ApprovalStage.APPROVED)
    if approved:
        _transition(enrolment, EnrolmentState.CONFIRMED if seat else EnrolmentState.WAITLISTED, actor,
                    "confirmed" if seat else "waitlisted", is_new=True)
    else:
        _transition(enrolment, EnrolmentState.PENDING, actor, "requested", is_new=True)
    db_session.flush()
    warnings = _overlap_warnings(employee, session)
    return EnrolResult(enrolment, warnings)


def _local(instant: datetime) -> str:
    from app.i18n import format_datetime

    return format_datetime(instant)


def _overlap_warnings(employee: Employee, session: TrainingSession) -> list[str]:
    mine = [(m.starts_at, m.ends_at) for m in session.meetings]
    others = db_session.execute(
        select(Meeting.starts_at, Meeting.ends_at, TrainingSession.id)
        .join(TrainingSession, Meeting.session_id == TrainingSession.id)
        .join(Enrolment, Enrolment.session_id == TrainingSession.id)
        .where(Enrolment.employee_id == employee.id, Enrolment.state.in_(ACTIVE_STATES),
               TrainingSession.id != session.id, TrainingSession.status == SessionStatus.SCHEDULED)
    ).all()
    clashes = [start for start, end, _sid in others if any(s < end and start < e for s, e in mine)]
    if not clashes:
        return []
    return [_("This overlaps another of your sessions on %(when)s.", when=_local(min(clashes)))]


# --- approvals -------------------------------------------------------------------------------


def can_decide(actor: Employee, enrolment: Enrolment) -> bool:
    if enrolment.state != EnrolmentState.PENDING:
        return False
    if enrolment.approval_stage == ApprovalStage.HR:
        return has_role(actor, RoleName.HR)
    if enrolment.approval_stage == ApprovalStage.MANAGER:
        if actor.id == enrolment.employee_id:
            return False
        return has_role(actor, RoleName.HR) or can_manage_employee(actor, enrolment.employee)
    return False


def approve(actor: Employee, enrolment: Enrolment) -> None:
    if not can_decide(actor, enrolment):
        raise EnrolmentError(_("You cannot approve this request."))
    policy = enrolment.training_session.approval_policy
    before = enrolment.approval_stage.value
    if (enrolment.approval_stage == ApprovalStage.MANAGER and policy == ApprovalPolicy.MANAGER_THEN_HR
            and not has_role(actor, RoleName.HR)):
        enrolment.approval_stage = ApprovalStage.HR
        _transition(enrolment, EnrolmentState.PENDING, actor, "forwarded")
    else:
        enrolment.approval_stage = ApprovalStage.APPROVED
        _transition(enrolment, EnrolmentState.CONFIRMED if enrolment.holds_seat else EnrolmentState.WAITLISTED,
                    actor, "approved")
    record_event(actor, "enrollment.approved", "enrolment", enrolment.id,
                 before={"stage": before}, after={"stage": enrolment.approval_stage.value,
                                                  "state": enrolment.state.value})


def decline(actor: Employee, enrolment: Enrolment, reason: str, policy: WaitlistPolicy = DEFAULT_POLICY) -> None:
    if not can_decide(actor, enrolment):
        raise EnrolmentError(_("You cannot decline this request."))
    if not reason.strip():
        raise EnrolmentError(_("Give a reason for declining."))
    before = enrolment.approval_stage.value
    enrolment.approval_stage = ApprovalStage.DECLINED
    had_seat = enrolment.holds_seat
    enrolment.holds_seat = False
    _transition(enrolment, EnrolmentState.DECLINED, actor, "declined", reason.strip())
    record_event(actor, "enrollment.declined", "enrolment", enrolment.id,
                 before={"stage": before}, after={"stage": "declined"}, summary=reason[:200])
    db_session.flush()
    if had_seat:
        _release_seat(enrolment.session_id)
        promote_waitlist(enrolment.training_session, policy)


# --- cancellation and the waitlist -----------------------------------------------------------


def can_cancel(actor: Employee, enrolment: Enrolment) -> bool:
    if not enrolment.is_active:
        return False
    if has_role(actor, RoleName.HR):
        return True
    if actor.id == enrolment.employee_id or can_manage_employee(actor, enrolment.employee):
        return now() < enrolment.training_session.cancellation_deadline_at
    return False


def cancel(actor: Employee, enrolment: Enrolment, reason: str = "", policy: WaitlistPolicy = DEFAULT_POLICY) -> None:
    """Cancel a place or request. The employee may until the deadline; HR at any time."""
    if not enrolment.is_active:
        raise EnrolmentError(_("This enrolment is no longer active."))
    if not can_cancel(actor, enrolment):
        raise EnrolmentError(_("The cancellation deadline has passed. Please contact the training staff."))
    had_seat = enrolment.holds_seat
    enrolment.holds_seat = False
    _transition(enrolment, EnrolmentState.CANCELLED, actor, "cancelled", reason.strip())
    db_session.flush()
    if had_seat:
        _release_seat(enrolment.session_id)
        promote_waitlist(enrolment.training_session, policy)


def promote_waitlist(session: TrainingSession, policy: WaitlistPolicy = DEFAULT_POLICY) -> list[Enrolment]:
    """Give free seats to the earliest waiting requests, unless the start is within the cut-off."""
    if session.status != SessionStatus.SCHEDULED or now() >= session.starts_at - policy.auto_promote_cutoff:
        return []
    promoted = []
    while True:
        candidate = db_session.scalar(
            select(Enrolment).where(Enrolment.session_id == session.id, Enrolment.state.in_(ACTIVE_STATES),
                                    Enrolment.holds_seat.is_(False)).order_by(Enrolment.id).limit(1))
        if candidate is None or not _claim_seat(session.id):
            break
        _give_seat(candidate, None)
        promoted.append(candidate)
    return promoted


def _give_seat(enrolment: Enrolment, actor: Employee | None) -> None:
    enrolment.holds_seat = True
    if enrolment.state == EnrolmentState.WAITLISTED:
        _transition(enrolment, EnrolmentState.CONFIRMED, actor, "promoted")
    else:  # still awaiting approval: it now waits with a seat kept for it
        _transition(enrolment, EnrolmentState.PENDING, actor, "promoted")
    db_session.flush()


def promote_by_hand(actor: Employee, enrolment: Enrolment) -> None:
    """HR gives a free seat to a specific waiting request (after the automatic cut-off too)."""
    if not enrolment.is_active or enrolment.holds_seat:
        raise EnrolmentError(_("This request is not waiting for a seat."))
    if not _claim_seat(enrolment.session_id):
        raise EnrolmentError(_("There is no free seat. Increase the capacity first."))
    _give_seat(enrolment, actor)
    record_event(actor, "enrollment.promoted_by_hand", "enrolment", enrolment.id)


def end_enrolments_of_cancelled_session(session: TrainingSession, actor: Employee | None, reason: str) -> int:
    enrolments = db_session.scalars(select(Enrolment).where(
        Enrolment.session_id == session.id, Enrolment.state.in_(ACTIVE_STATES))).all()
    for enrolment in enrolments:
        enrolment.holds_seat = False
        _transition(enrolment, EnrolmentState.CANCELLED, actor, "session_cancelled", reason)
    db_session.flush()
    db_session.execute(update(TrainingSession).where(TrainingSession.id == session.id)
                       .values(seats_taken=0).execution_options(synchronize_session=False))
    return len(enrolments)


# --- bulk enrolment by HR --------------------------------------------------------------------


@dataclass
class BulkOutcome:
    enrolled: list[tuple[Employee, Enrolment]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (who, why)


def enrol_many(actor: Employee, employees: Iterable[Employee], session: TrainingSession,
               completed: dict[int, set[int]], *, override_rules: bool, unknown: Iterable[str] = ()) -> BulkOutcome:
    outcome = BulkOutcome()
    for number in unknown:
        outcome.refused.append((number, _("No active employee with this number.")))
    for employee in employees:
        try:
            with db_session.begin_nested():
                result = enrol(actor, employee, session, completed_course_ids=completed.get(employee.id, set()),
                               override_rules=override_rules)
            outcome.enrolled.append((employee, result.enrolment))
        except EnrolmentError as error:
            outcome.refused.append((f"{employee.employee_number} {employee.name}", str(error)))
    return outcome


def has_live_enrolment(employee_id: int, course_id: int) -> bool:
    return bool(db_session.scalar(select(exists().where(
        Enrolment.employee_id == employee_id, Enrolment.course_id == course_id, Enrolment.state.in_(ACTIVE_STATES)))))


# --- event subscribers -----------------------------------------------------------------------


def current_policy() -> WaitlistPolicy:
    from flask import current_app

    return WaitlistPolicy(timedelta(hours=current_app.config["WAITLIST_AUTO_PROMOTE_CUTOFF_HOURS"]))


def _on_capacity_increased(event) -> None:  # type: ignore[no-untyped-def]
    session = db_session.get(TrainingSession, event.session_id)
    if session is not None:
        promote_waitlist(session, current_policy())


def _on_session_cancelled(event) -> None:  # type: ignore[no-untyped-def]
    session = db_session.get(TrainingSession, event.session_id)
    actor = db_session.get(Employee, event.actor_id) if event.actor_id else None
    if session is not None:
        end_enrolments_of_cancelled_session(session, actor, event.reason)


def register_subscribers() -> None:
    """Follow scheduling's announcements: capacity up → promote; session cancelled → end places."""
    from app.events import subscribe
    from app.scheduling.events import SessionCancelled, SessionCapacityIncreased

    subscribe(SessionCapacityIncreased, _on_capacity_increased)
    subscribe(SessionCancelled, _on_session_cancelled)


# --- calendar feeds --------------------------------------------------------------------------


def reset_calendar_feed(employee: Employee) -> str:
    """Issue a new secret feed token (the old URL stops working)."""
    import secrets

    from app.enrollment.models import CalendarFeed

    feed = db_session.get(CalendarFeed, employee.id)
    token = secrets.token_urlsafe(32)
    if feed is None:
        db_session.add(CalendarFeed(employee_id=employee.id, token=token, created_at=now()))
    else:
        feed.token, feed.created_at = token, now()
    db_session.flush()
    return token
