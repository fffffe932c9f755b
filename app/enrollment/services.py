"""Writes to enrolments: the rules of who may enrol, approve, decline and cancel, and when.

Every change of state goes through `app.enrollment.transitions` (one guarded UPDATE each, the
state machine drawn there); every writer locks the session row first, so seats are checked and
given one request at a time per session, on SQLite and PostgreSQL alike. The loser of a race is
told what happened in the user's language, never a 500 or a second effect.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.audit.services import record_event
from app.core.clock import now
from app.core.db import db_session
from app.core.events import emit, subscribe
from app.enrollment.events import ApprovalsRerouted, Handover
from app.enrollment.models import (
    ApprovalStage,
    CalendarFeed,
    Enrolment,
    EnrolmentState,
    is_active_place,
)
from app.enrollment.queries import REROUTED_ACTION, handed_over_from
from app.enrollment.transitions import Stale, lock_session, lock_sessions, move, record_new, reread, reroute
from app.org.events import ApproversChanged
from app.org.models import Employee, Unit
from app.org.queries import manager_of, managers_of
from app.permissions import (
    can_approve_as_manager,
    can_approve_as_training_staff,
    can_cancel_enrolment,
    can_decide_enrolment_now,
)
from app.scheduling.events import SessionCancelled, SessionCapacityIncreased
from app.scheduling.models import ApprovalPolicy, Meeting, SessionStatus, TrainingSession
from app.web.confirmations import fingerprint
from app.web.locale import format_datetime
from app.web.locale import gettext as _


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


def waitlist_position(enrolment: Enrolment) -> int | None:
    """1-based place among the live requests of the session that have no seat yet."""
    if not enrolment.is_active or enrolment.holds_seat:
        return None
    ahead = db_session.scalar(
        select(func.count()).select_from(Enrolment).where(
            Enrolment.session_id == enrolment.session_id, is_active_place(),
            Enrolment.holds_seat.is_(False), Enrolment.id < enrolment.id)
    ) or 0
    return ahead + 1


def ended_message(enrolment: Enrolment, *, deciding: bool = False) -> str:
    """What to tell someone acting on an enrolment that another request has just ended or decided
    (`deciding`: an approver, for whom a cancelled request was withdrawn by its owner)."""
    if enrolment.state == EnrolmentState.CANCELLED:
        return _("The request was withdrawn.") if deciding else _("This enrolment has already been cancelled.")
    if enrolment.state == EnrolmentState.DECLINED:
        return _("This request has already been declined.")
    return _("This request has already been decided.")


def _changed_meanwhile() -> EnrolmentError:
    return EnrolmentError(_("This enrolment was changed by someone else just now. Please check it and try again."))


# --- enrol -----------------------------------------------------------------------------------


def _initial_stage(actor: Employee, employee: Employee,
                   policy: ApprovalPolicy) -> tuple[ApprovalStage, Employee | None]:
    """Who must still approve, given who is asking. A manager enrolling their own staff has
    approved by doing so; HR enrolling anyone has approved every stage."""
    if policy == ApprovalPolicy.NONE:
        return ApprovalStage.NOT_REQUIRED, None
    manager = manager_of(employee)
    return _stage_given(actor, employee, policy, has_manager=manager is not None), manager


def _stage_given(actor: Employee, employee: Employee, policy: ApprovalPolicy, *, has_manager: bool) -> ApprovalStage:
    """`_initial_stage` once the person's manager is known (a bulk preview reads them all at once)."""
    if policy == ApprovalPolicy.NONE:
        return ApprovalStage.NOT_REQUIRED
    if can_approve_as_training_staff(actor, employee):
        return ApprovalStage.APPROVED
    if can_approve_as_manager(actor, employee) or not has_manager:
        if policy == ApprovalPolicy.MANAGER_THEN_HR or not has_manager:
            return ApprovalStage.HR
        return ApprovalStage.APPROVED
    return ApprovalStage.MANAGER


def enrol(
    actor: Employee,
    employee: Employee,
    training_session: TrainingSession,
    *,
    completed_course_ids: Iterable[int] = (),
    override_rules: bool = False,
) -> EnrolResult:
    """Request a place for `employee` in `training_session` (the actor may be them, their manager, or HR).

    Rules: the session is scheduled and its window open, the grade is targeted, prerequisites are
    done (HR may override these three), and no other live enrolment in the same course exists.
    A free seat is taken at once; otherwise the request joins the waitlist in arrival order.
    """
    course = training_session.course
    current = now()
    refusal = rule_refusal(employee, training_session, completed_course_ids, override_rules, current)
    if refusal is not None:
        raise EnrolmentError(refusal)
    existing = db_session.scalar(select(Enrolment).where(
        Enrolment.employee_id == employee.id, Enrolment.course_id == course.id,
        is_active_place()))
    if existing is not None:
        raise EnrolmentError(_("%(name)s already has a place or request in this course (%(when)s).",
                               name=employee.name, when=_local(existing.training_session.starts_at)))

    stage, approver = _initial_stage(actor, employee, training_session.approval_policy)
    seats = lock_session(training_session.id)
    if not seats.is_scheduled:
        raise EnrolmentError(_("This session has been cancelled."))
    seat = seats.free > 0
    try:
        with db_session.begin_nested():
            enrolment = Enrolment(
                session_id=training_session.id, course_id=course.id, course_version=course.version,
                employee_id=employee.id, holds_seat=seat, approval_stage=stage,
                approver_id=approver.id if approver else None,
                requested_by_id=actor.id if actor.id != employee.id else None, requested_at=current,
            )
            approved = stage in (ApprovalStage.NOT_REQUIRED, ApprovalStage.APPROVED)
            if not approved:
                enrolment.state = EnrolmentState.PENDING
            else:
                enrolment.state = EnrolmentState.CONFIRMED if seat else EnrolmentState.WAITLISTED
                enrolment.confirmed_at = current if seat else None
            db_session.add(enrolment)
            db_session.flush()
    except IntegrityError as error:
        if not _is_second_live_enrolment(error):
            raise
        raise EnrolmentError(_("%(name)s already has a place or request in this course.", name=employee.name)) from None
    record_new(enrolment, actor, "requested" if not approved else "confirmed" if seat else "waitlisted")
    db_session.flush()
    warnings = _overlap_warnings(employee, training_session)
    return EnrolResult(enrolment, warnings)


def rule_refusal(employee: Employee, training_session: TrainingSession, completed_course_ids: Iterable[int],
                 override_rules: bool, current: datetime) -> str | None:
    """Why `enrol` refuses `employee` before looking at places and seats (None: the rules allow
    it): the person is active, the session scheduled and not started; unless overridden, the
    window is open, the grade targeted and the prerequisites done. Pure: reads what is loaded."""
    if not employee.is_active:
        return _("%(name)s is not an active employee.", name=employee.name)
    if training_session.status != SessionStatus.SCHEDULED:
        return _("This session has been cancelled.")
    if training_session.starts_at <= current:
        return _("This session has already started.")
    if not override_rules:
        course = training_session.course
        if current < training_session.enrolment_opens_at:
            return _("Enrolment opens on %(date)s.", date=_local(training_session.enrolment_opens_at))
        if current >= training_session.enrolment_closes_at:
            return _("Enrolment closed on %(date)s.", date=_local(training_session.enrolment_closes_at))
        targets = {g.id for g in course.target_grades}
        if targets and employee.grade_id not in targets:
            return _("This course is not for %(name)s's grade.", name=employee.name)
        done = set(completed_course_ids)
        missing = [p for p in course.prerequisites if p.id not in done]
        if missing:
            return _("Complete %(titles)s first.", titles="、".join(p.title_ja for p in missing))
    return None


def _is_second_live_enrolment(error: IntegrityError) -> bool:
    """Only the one-live-enrolment-per-course index means "already applied"; any other
    violation is a bug to surface, not something to explain away to the user."""
    return "uq_enrolments_active_employee_course" in str(error.orig) or (
        "UNIQUE constraint failed: enrolments.employee_id, enrolments.course_id" in str(error.orig))


def _local(instant: datetime) -> str:
    return format_datetime(instant)


def _overlap_warnings(employee: Employee, training_session: TrainingSession) -> list[str]:
    mine = [(m.starts_at, m.ends_at) for m in training_session.meetings]
    others = db_session.execute(
        select(Meeting.starts_at, Meeting.ends_at, TrainingSession.id)
        .join(TrainingSession, Meeting.session_id == TrainingSession.id)
        .join(Enrolment, Enrolment.session_id == TrainingSession.id)
        .where(Enrolment.employee_id == employee.id, is_active_place(),
               TrainingSession.id != training_session.id, TrainingSession.status == SessionStatus.SCHEDULED)
    ).all()
    clashes = [start for start, end, _sid in others if any(s < end and start < e for s, e in mine)]
    if not clashes:
        return []
    return [_("This overlaps another of your sessions on %(when)s.", when=_local(min(clashes)))]


# --- approvals -------------------------------------------------------------------------------


def _not_yours_to_decide(actor: Employee, enrolment: Enrolment, refusal: str) -> str:
    """A manager whose stage another manager (or a double click) has just completed is told so,
    not that they lack the right; a former head whose request went to a new head after a
    transfer is told where it went."""
    if enrolment.approval_stage == ApprovalStage.HR and can_approve_as_manager(actor, enrolment.employee):
        return _("This request has already been approved by a manager and now waits for the training staff.")
    return handed_over_notice(actor, enrolment) or refusal


def handed_over_notice(actor: Employee, enrolment: Enrolment) -> str | None:
    """What to tell someone who opens (or tries to decide) a request that was theirs until a
    transfer handed it to another head; None if it never was theirs."""
    handed = handed_over_from(enrolment.id, actor.id)
    if handed is None:
        return None
    if handed.to_approver is None:
        return _("After a transfer, %(name)s's request went to the training staff on %(date)s; "
                 "you can no longer decide it.", name=enrolment.employee.name, date=_local(handed.at))
    return _("After a transfer, %(name)s's request was handed to %(head)s on %(date)s; you can no longer "
             "decide it.", name=enrolment.employee.name, head=handed.to_approver.name, date=_local(handed.at))


def _lock_and_reread(enrolment: Enrolment) -> Enrolment:
    lock_session(enrolment.session_id)
    return reread(enrolment)


def approve(actor: Employee, enrolment: Enrolment) -> None:
    """Approve a request at its current stage (the manager's, or HR's after it)."""
    _lock_and_reread(enrolment)
    if enrolment.state != EnrolmentState.PENDING:
        raise EnrolmentError(ended_message(enrolment, deciding=True))
    if not can_decide_enrolment_now(actor, enrolment):
        raise EnrolmentError(_not_yours_to_decide(actor, enrolment, _("You cannot approve this request.")))
    policy = enrolment.training_session.approval_policy
    before = enrolment.approval_stage.value
    try:
        if (enrolment.approval_stage == ApprovalStage.MANAGER and policy == ApprovalPolicy.MANAGER_THEN_HR
                and not can_approve_as_training_staff(actor, enrolment.employee)):
            move(enrolment, EnrolmentState.PENDING, actor, "forwarded", stage=ApprovalStage.HR)
        else:
            move(enrolment, EnrolmentState.CONFIRMED if enrolment.holds_seat else EnrolmentState.WAITLISTED,
                 actor, "approved", stage=ApprovalStage.APPROVED)
    except Stale:
        raise _changed_meanwhile() from None
    record_event(actor, "enrollment.approved", "enrolment", enrolment.id,
                 before={"stage": before}, after={"stage": enrolment.approval_stage.value,
                                                  "state": enrolment.state.value})


def decline(actor: Employee, enrolment: Enrolment, reason: str, policy: WaitlistPolicy = DEFAULT_POLICY) -> None:
    if not reason.strip():
        raise EnrolmentError(_("Give a reason for declining."))
    _lock_and_reread(enrolment)
    if enrolment.state != EnrolmentState.PENDING:
        raise EnrolmentError(ended_message(enrolment, deciding=True))
    if not can_decide_enrolment_now(actor, enrolment):
        raise EnrolmentError(_not_yours_to_decide(actor, enrolment, _("You cannot decline this request.")))
    before = enrolment.approval_stage.value
    had_seat = enrolment.holds_seat
    try:
        move(enrolment, EnrolmentState.DECLINED, actor, "declined", reason.strip(), holds_seat=False,
             stage=ApprovalStage.DECLINED)
    except Stale:
        raise _changed_meanwhile() from None
    record_event(actor, "enrollment.declined", "enrolment", enrolment.id,
                 before={"stage": before}, after={"stage": "declined"}, summary=reason[:200])
    if had_seat:
        promote_waitlist(enrolment.training_session, policy)


@dataclass
class Decisions:
    done: int = 0
    refused: list[str] = field(default_factory=list)  # one line per request not decided, with why


def decide_many(actor: Employee, enrolments: Iterable[Enrolment], action: str, reason: str,
                policy: WaitlistPolicy = DEFAULT_POLICY) -> Decisions:
    """Approve or decline several requests at once. A request someone else decided or withdrew
    meanwhile is reported by name, the others go through."""
    chosen = sorted(enrolments, key=lambda e: e.id)
    lock_sessions({e.session_id for e in chosen})
    outcome = Decisions()
    for enrolment in chosen:
        try:
            with db_session.begin_nested():
                if action == "approve":
                    approve(actor, enrolment)
                else:
                    decline(actor, enrolment, reason, policy)
            outcome.done += 1
        except EnrolmentError as error:
            outcome.refused.append(f"{enrolment.employee.name}: {error}")
    return outcome


# --- cancellation and the waitlist -----------------------------------------------------------


def cancel(actor: Employee, enrolment: Enrolment, reason: str = "", policy: WaitlistPolicy = DEFAULT_POLICY) -> None:
    """Cancel a place or request. The employee may until the deadline; HR at any time. The seat
    it held (if any) is freed exactly once and goes to the first person waiting."""
    _lock_and_reread(enrolment)
    if not enrolment.is_active:
        raise EnrolmentError(ended_message(enrolment))
    if not can_cancel_enrolment(actor, enrolment):
        raise EnrolmentError(_("The cancellation deadline has passed. Please contact the training staff."))
    had_seat = enrolment.holds_seat
    try:
        move(enrolment, EnrolmentState.CANCELLED, actor, "cancelled", reason.strip(), holds_seat=False)
    except Stale:
        raise _changed_meanwhile() from None
    if had_seat:
        promote_waitlist(enrolment.training_session, policy)


def promote_waitlist(training_session: TrainingSession, policy: WaitlistPolicy = DEFAULT_POLICY) -> list[Enrolment]:
    """Give free seats to the earliest waiting requests, unless the start is within the cut-off."""
    if now() >= training_session.starts_at - policy.auto_promote_cutoff:
        return []
    free = lock_session(training_session.id).free
    if not free:
        return []
    candidates = db_session.scalars(
        select(Enrolment).where(Enrolment.session_id == training_session.id, is_active_place(),
                                Enrolment.holds_seat.is_(False)).order_by(Enrolment.id).limit(free)
        .execution_options(populate_existing=True)).all()
    for candidate in candidates:
        _give_seat(candidate, None)
    return list(candidates)


def _give_seat(enrolment: Enrolment, actor: Employee | None) -> None:
    """A waiting request gets a seat: confirmed if approved, else it waits for approval with it."""
    to_state = EnrolmentState.CONFIRMED if enrolment.state == EnrolmentState.WAITLISTED else EnrolmentState.PENDING
    move(enrolment, to_state, actor, "promoted", holds_seat=True)


def promote_by_hand(actor: Employee, enrolment: Enrolment) -> None:
    """HR gives a free seat to a specific waiting request (after the automatic cut-off too)."""
    seats = lock_session(enrolment.session_id)
    reread(enrolment)
    if not enrolment.is_active or enrolment.holds_seat:
        raise EnrolmentError(_("This request is not waiting for a seat."))
    if not seats.free:
        raise EnrolmentError(_("There is no free seat. Increase the capacity first."))
    try:
        _give_seat(enrolment, actor)
    except Stale:
        raise _changed_meanwhile() from None
    record_event(actor, "enrollment.promoted_by_hand", "enrolment", enrolment.id)


def end_enrolments_of_cancelled_session(training_session: TrainingSession, actor: Employee | None, reason: str) -> int:
    """Every live place of a cancelled session ends; the triggers bring its seat count to zero."""
    lock_session(training_session.id)
    enrolments = db_session.scalars(select(Enrolment).where(
        Enrolment.session_id == training_session.id, is_active_place())
        .order_by(Enrolment.id).execution_options(populate_existing=True)).all()
    for enrolment in enrolments:
        move(enrolment, EnrolmentState.CANCELLED, actor, "session_cancelled", reason, holds_seat=False)
    return len(enrolments)


# --- bulk enrolment by HR --------------------------------------------------------------------


@dataclass
class BulkOutcome:
    enrolled: list[tuple[Employee, Enrolment]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (who, why)


@dataclass(frozen=True)
class BulkLine:
    """What a bulk enrolment would do for one person (`preview_enrol_many`)."""

    employee: Employee
    outcome: str  # one of BULK_OUTCOMES
    note: str = ""  # the refusal, or where the person already is
    mail_to: Employee | None = None  # who is told by e-mail (None with `mail_to_hr`, or no mail)
    mail_to_hr: bool = False  # the request waits at HR's stage: the training staff are told


BULK_OUTCOMES = ("confirmed", "waitlisted", "pending", "already", "refused")


@dataclass(frozen=True)
class BulkPreview:
    lines: list[BulkLine]
    unknown: list[str]
    free_seats: int
    fingerprint: str

    def of(self, outcome: str) -> list[BulkLine]:
        return [line for line in self.lines if line.outcome == outcome]

    @property
    def mailed(self) -> int:
        return sum(1 for line in self.lines if line.mail_to is not None or line.mail_to_hr)


def preview_enrol_many(actor: Employee, employees: list[Employee], training_session: TrainingSession,
                       completed: dict[int, set[int]], *, override_rules: bool,
                       unknown: Iterable[str] = ()) -> BulkPreview:
    """What `enrol_many` would do now, person by person, without writing anything (a fixed number
    of statements however many people): who gets a seat, who goes to the waitlist because the
    seats run out, whose request waits for approval, who already has a place in the course and
    who the rules refuse, and who is told by e-mail (each enrolled person of their place; the
    approver of a request). The same rules as `enrol` (`rule_refusal`, `_stage_given`), in the
    same order as the list."""
    course = training_session.course
    current = now()
    ids = [e.id for e in employees]
    existing = {e.employee_id: e for e in db_session.scalars(
        select(Enrolment).where(Enrolment.employee_id.in_(ids), Enrolment.course_id == course.id, is_active_place())
        .options(joinedload(Enrolment.training_session)))} if ids else {}
    policy = training_session.approval_policy
    managers = managers_of(ids) if policy != ApprovalPolicy.NONE and ids else {}
    heads = {e.id: e for e in db_session.scalars(select(Employee).where(
        Employee.id.in_({m for m in managers.values() if m is not None})))} if managers else {}
    free = (max(0, training_session.capacity - training_session.seats_taken)
            if training_session.status == SessionStatus.SCHEDULED else 0)
    free_at_start = free
    lines: list[BulkLine] = []
    for employee in employees:
        refusal = rule_refusal(employee, training_session, completed.get(employee.id, set()), override_rules, current)
        if refusal is not None:
            lines.append(BulkLine(employee, "refused", refusal))
            continue
        if employee.id in existing:
            place = existing[employee.id]
            lines.append(BulkLine(employee, "already", _local(place.training_session.starts_at)))
            continue
        manager_id = managers.get(employee.id)
        stage = _stage_given(actor, employee, policy, has_manager=manager_id is not None)
        seat = free > 0
        free -= 1 if seat else 0
        if stage in (ApprovalStage.NOT_REQUIRED, ApprovalStage.APPROVED):
            lines.append(BulkLine(employee, "confirmed" if seat else "waitlisted", mail_to=employee))
        elif stage == ApprovalStage.MANAGER:
            lines.append(BulkLine(employee, "pending", mail_to=heads.get(manager_id or 0)))
        else:
            lines.append(BulkLine(employee, "pending", mail_to_hr=True))
    unknown = list(unknown)
    shown = fingerprint(training_session.id, free_at_start, unknown,
                        [(line.employee.id, line.outcome, line.note, line.mail_to.id if line.mail_to else None,
                          line.mail_to_hr) for line in lines])
    return BulkPreview(lines, unknown, free_at_start, shown)


def enrol_many(actor: Employee, employees: Iterable[Employee], training_session: TrainingSession,
               completed: dict[int, set[int]], *, override_rules: bool, unknown: Iterable[str] = ()) -> BulkOutcome:
    outcome = BulkOutcome()
    for number in unknown:
        outcome.refused.append((number, _("No active employee with this number.")))
    for employee in employees:
        try:
            with db_session.begin_nested():
                result = enrol(actor, employee, training_session,
                               completed_course_ids=completed.get(employee.id, set()), override_rules=override_rules)
            outcome.enrolled.append((employee, result.enrolment))
        except EnrolmentError as error:
            outcome.refused.append((f"{employee.employee_number} {employee.name}", str(error)))
    return outcome


# --- event subscribers -----------------------------------------------------------------------


def current_policy() -> WaitlistPolicy:
    from flask import current_app

    return WaitlistPolicy(timedelta(hours=current_app.config["WAITLIST_AUTO_PROMOTE_CUTOFF_HOURS"]))


def _on_capacity_increased(event: SessionCapacityIncreased) -> None:
    training_session = db_session.get(TrainingSession, event.session_id)
    if training_session is not None:
        promote_waitlist(training_session, current_policy())


def _on_session_cancelled(event: SessionCancelled) -> None:
    training_session = db_session.get(TrainingSession, event.session_id)
    actor = db_session.get(Employee, event.actor_id) if event.actor_id else None
    if training_session is not None:
        end_enrolments_of_cancelled_session(training_session, actor, event.reason)


def register_subscribers() -> None:
    """Follow scheduling's announcements: capacity up → promote; session cancelled → end places;
    and the organisation's: a transfer hands pending requests to the new head."""
    subscribe(SessionCapacityIncreased, _on_capacity_increased)
    subscribe(SessionCancelled, _on_session_cancelled)
    subscribe(ApproversChanged, _on_approvers_changed)


def _on_approvers_changed(event: ApproversChanged) -> None:
    reroute_pending_requests(event)


# --- transfers: pending requests follow the head -------------------------------------------------


def reroute_pending_requests(change: ApproversChanged) -> list[Handover]:
    """Requests waiting at the manager's stage whose person now reports to another head go to that
    head (the approver the approval notice and the queue name), in the transfer's transaction;
    with no head left above the person, to HR's stage, as a new request would. Each hand-over is
    in the request's history and the audit trail; `ApprovalsRerouted` announces them (the notice to
    the new head, the old head's unsent notices voided: app/reminders). A request decided in a
    race is left as decided (transitions.reroute is guarded)."""
    in_scope = [Enrolment.employee_id.in_(change.employee_ids)] if change.employee_ids else []
    if change.unit_paths:
        in_scope.append(Enrolment.employee_id.in_(
            select(Employee.id).join(Unit, Employee.unit_id == Unit.id)
            .where(or_(*(Unit.path.startswith(path) for path in change.unit_paths)))))
    if not in_scope:
        return []
    pending = list(db_session.scalars(select(Enrolment).where(
        Enrolment.state == EnrolmentState.PENDING, Enrolment.approval_stage == ApprovalStage.MANAGER,
        or_(*in_scope)).order_by(Enrolment.id).execution_options(populate_existing=True)))
    heads = managers_of({e.employee_id for e in pending})
    moving = [e for e in pending if e.approver_id != heads.get(e.employee_id)]
    if not moving:
        return []
    lock_sessions({e.session_id for e in moving})  # the lock order of every writer: sessions first
    actor = db_session.get(Employee, change.actor_id) if change.actor_id else None
    handovers = []
    for enrolment in moving:
        reread(enrolment)
        if enrolment.state != EnrolmentState.PENDING or enrolment.approval_stage != ApprovalStage.MANAGER:
            continue
        before, after = enrolment.approver_id, heads.get(enrolment.employee_id)
        if before == after:  # handed over meanwhile by another change
            continue
        try:
            with db_session.begin_nested():
                if after is None:
                    move(enrolment, EnrolmentState.PENDING, actor, "forwarded", f"{change.reason}: no head above",
                         stage=ApprovalStage.HR)
                else:
                    reroute(enrolment, after, actor, f"{change.reason} {change.change_key}")
        except Stale:
            continue
        record_event(actor, REROUTED_ACTION, "enrolment", enrolment.id, before={"approver_id": before},
                     after={"approver_id": after, "stage": enrolment.approval_stage.value},
                     summary=f"{change.reason} {change.change_key}")
        handovers.append(Handover(enrolment.id, enrolment.employee_id, before, after))
    if handovers:
        emit(ApprovalsRerouted(change.change_key, tuple(handovers)))
    return handovers


# --- calendar feeds --------------------------------------------------------------------------


def reset_calendar_feed(employee: Employee) -> str:
    """Issue a new secret feed token (the old URL stops working)."""
    import secrets

    feed = db_session.get(CalendarFeed, employee.id)
    token = secrets.token_urlsafe(32)
    if feed is None:
        db_session.add(CalendarFeed(employee_id=employee.id, token=token, created_at=now()))
    else:
        feed.token, feed.created_at = token, now()
    db_session.flush()
    return token
