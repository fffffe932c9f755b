"""The enrolment state machine. Every change of an enrolment is one guarded UPDATE in this module.

                          approve (last stage)
    enrol ──► PENDING ─────────────────────────► CONFIRMED  (with a seat)
      │        │  │  ▲ forward (manager → HR)  ► WAITLISTED (without one)
      │        │  │  └─┘ seat given: PENDING keeps waiting for approval, now with a seat
      │        │  └──── decline ─────────────► DECLINED
      │        └─────── cancel ──────────────► CANCELLED ◄── cancel ── CONFIRMED, WAITLISTED
      └─ no approval needed ──► CONFIRMED or WAITLISTED ── seat given (WAITLISTED) ──► CONFIRMED

A move names the state it expects (state, seat, approval stage and approver: what the caller just
read) and is `UPDATE enrolments SET … WHERE id = :id AND state = :state AND holds_seat = :seat AND
approval_stage = :stage AND approver_id IS :approver`. A transfer hands a PENDING request at the
manager's stage to the new head (`reroute`, the same kind of guarded UPDATE on the approver): so a
decision and a transfer that race apply one outcome, whichever commits first. If another request
moved the row first, nothing changes and `Stale` says so; the caller tells the user what happened
instead ("already cancelled"), never a second effect. The enrolment's `holds_seat` is the only
truth about seats: triggers (migration 5e47a2c9d1f0) move `training_sessions.seats_taken` with
it, the CHECK keeps it within capacity, and a constraint trigger refuses a counter that differs
from the rows.

Lock order, the same for every writer: the session row first (`lock_session`, FOR UPDATE on
PostgreSQL; SQLite's writer already holds the whole database), then its enrolments. So a seat
check cannot interleave with another request's, waitlist places are numbered in arrival order,
and two writers never wait on each other in opposite orders.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import attributes

from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.core.events import emit
from app.enrollment.events import EnrolmentTransitioned
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentEvent, EnrolmentState
from app.org.models import Employee
from app.scheduling.models import SessionStatus, TrainingSession


class Stale(Exception):
    """The enrolment was changed by someone else between reading and moving it."""


@dataclass(frozen=True)
class Seats:
    capacity: int
    taken: int
    is_scheduled: bool

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken) if self.is_scheduled else 0


def lock_session(session_id: int) -> Seats:
    """Take the session's row lock (held to commit) and read its seats as they are now."""
    row = db_session.execute(
        select(TrainingSession.capacity, TrainingSession.seats_taken, TrainingSession.status)
        .where(TrainingSession.id == session_id).with_for_update()).one()
    _forget_seat_count(session_id, row.seats_taken)
    return Seats(row.capacity, row.seats_taken, row.status == SessionStatus.SCHEDULED)


def lock_sessions(session_ids: set[int]) -> None:
    """Lock several sessions, always in id order (two managers deciding overlapping sets of
    requests must not lock them in opposite orders)."""
    for session_id in sorted(session_ids):
        lock_session(session_id)


def reread(enrolment: Enrolment) -> Enrolment:
    """The row as committed now (call after `lock_session`): what the user is really acting on."""
    db_session.refresh(enrolment, ["state", "holds_seat", "approval_stage", "approver_id", "confirmed_at",
                                   "ended_at", "end_reason"])
    return enrolment


def record_new(enrolment: Enrolment, actor: Employee | None, kind: str) -> None:
    """The history and announcement of a row just inserted in its first state."""
    _record(enrolment, None, actor, kind, "")


def move(enrolment: Enrolment, to_state: EnrolmentState, actor: Employee | None, kind: str, note: str = "", *,
         holds_seat: bool | None = None, stage: ApprovalStage | None = None) -> None:
    """Move `enrolment` from the state it has in memory to `to_state` (and the given seat and
    approval stage), or raise `Stale` if the row is no longer in that state."""
    at = now()
    values: dict[str, object] = {"state": to_state}
    if holds_seat is not None:
        values["holds_seat"] = holds_seat
    if stage is not None:
        values["approval_stage"] = stage
    if to_state == EnrolmentState.CONFIRMED and enrolment.confirmed_at is None:
        values["confirmed_at"] = at
    if to_state in (EnrolmentState.CANCELLED, EnrolmentState.DECLINED):
        values["ended_at"], values["end_reason"] = at, note[:500]
    moved = rows_changed(db_session.execute(
        update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.state == enrolment.state,
                                Enrolment.holds_seat == enrolment.holds_seat,
                                Enrolment.approval_stage == enrolment.approval_stage,
                                Enrolment.approver_id.is_not_distinct_from(enrolment.approver_id))
        .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(enrolment.id)
    from_state = enrolment.state.value
    for key, value in values.items():  # the row as now stored, without a second write at flush
        attributes.set_committed_value(enrolment, key, value)
    if "holds_seat" in values:
        _forget_seat_count(enrolment.session_id)
    _record(enrolment, from_state, actor, kind, note, at)


def reroute(enrolment: Enrolment, to_approver_id: int, actor: Employee | None, note: str) -> None:
    """Hand a PENDING request at the manager's stage from the approver it has in memory to
    `to_approver_id`, or raise `Stale` if it was decided, withdrawn or handed over meanwhile. Its
    state does not change: the history says who it went to, nothing is announced as a transition."""
    moved = rows_changed(db_session.execute(
        update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.state == EnrolmentState.PENDING,
                                Enrolment.approval_stage == ApprovalStage.MANAGER,
                                Enrolment.approver_id.is_not_distinct_from(enrolment.approver_id))
        .values(approver_id=to_approver_id).execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(enrolment.id)
    attributes.set_committed_value(enrolment, "approver_id", to_approver_id)
    db_session.add(EnrolmentEvent(enrolment_id=enrolment.id, occurred_at=now(), actor_id=actor.id if actor else None,
                                  from_state=enrolment.state.value, to_state=enrolment.state.value,
                                  note=f"rerouted: {note}"[:500]))


def _record(enrolment: Enrolment, from_state: str | None, actor: Employee | None, kind: str, note: str,
            at: datetime | None = None) -> None:
    db_session.add(EnrolmentEvent(enrolment_id=enrolment.id, occurred_at=at or now(),
                                  actor_id=actor.id if actor else None, from_state=from_state,
                                  to_state=enrolment.state.value, note=f"{kind}: {note}"[:500] if note else kind))
    emit(EnrolmentTransitioned(enrolment.id, from_state, enrolment.state.value, actor.id if actor else None,
                               kind, note))


def _forget_seat_count(session_id: int, value: int | None = None) -> None:
    """The triggers moved the counter in the database: a session object already loaded in this
    unit of work must not show (or write back) its old count."""
    loaded = db_session.identity_map.get(db_session.identity_key(TrainingSession, session_id))
    if loaded is None:
        return
    if value is None:
        db_session.expire(loaded, ["seats_taken"])
    else:
        attributes.set_committed_value(loaded, "seats_taken", value)
