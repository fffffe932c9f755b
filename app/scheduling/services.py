"""Writes to sessions: schedule, edit, move, cancel. Enrolment follow-ups happen through events."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from app.audit.services import record_event
from app.catalog.models import Course
from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.core.events import emit
from app.org.models import Employee
from app.scheduling.events import SessionCancelled, SessionCapacityIncreased, SessionMoved
from app.scheduling.models import (
    DEFAULT_MIN_PRESENCE_PCT,
    ApprovalPolicy,
    Meeting,
    SessionStatus,
    TrainingSession,
)
from app.web.locale import gettext as _


class SchedulingError(Exception):
    """A scheduling problem with a message fit to show, naming the field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class SessionDetails:
    label: str
    location: str
    online_url: str | None
    capacity: int
    enrolment_opens_at: datetime
    enrolment_closes_at: datetime
    cancellation_deadline_at: datetime
    approval_policy: ApprovalPolicy
    notes: str = ""
    min_presence_pct: int = DEFAULT_MIN_PRESENCE_PCT  # web-meeting minutes that count as present, in %


def _check(details: SessionDetails, meetings: Sequence[tuple[datetime, datetime]]) -> None:
    if not meetings:
        raise SchedulingError("meetings", _("Add at least one meeting."))
    for start, end in meetings:
        if end <= start:
            raise SchedulingError("meetings", _("Each meeting must end after it starts."))
    if details.capacity < 0:
        raise SchedulingError("capacity", _("Capacity cannot be negative."))
    if not 1 <= details.min_presence_pct <= 100:
        raise SchedulingError("min_presence_pct", _("Enter a percentage from 1 to 100."))
    if details.enrolment_closes_at <= details.enrolment_opens_at:
        raise SchedulingError("enrolment_closes_at", _("Enrolment must close after it opens."))
    first = min(start for start, _ in meetings)
    if details.enrolment_closes_at > first:
        raise SchedulingError("enrolment_closes_at", _("Enrolment must close before the first meeting."))
    if details.cancellation_deadline_at > first:
        raise SchedulingError("cancellation_deadline_at",
                              _("The cancellation deadline must be before the first meeting."))


def _set_meetings(training_session: TrainingSession, meetings: Sequence[tuple[datetime, datetime]]) -> None:
    ordered = sorted(meetings)
    existing = sorted(training_session.meetings, key=lambda m: m.starts_at)
    # Keep meeting rows (and their ids, which attendance and calendar UIDs refer to) where possible.
    for index, (start, end) in enumerate(ordered):
        if index < len(existing):
            existing[index].starts_at, existing[index].ends_at = start, end
        else:
            training_session.meetings.append(Meeting(starts_at=start, ends_at=end))
    for extra in existing[len(ordered):]:
        training_session.meetings.remove(extra)
    training_session.starts_at = ordered[0][0]
    training_session.ends_at = max(end for _, end in ordered)


def schedule_session(actor: Employee | None, course: Course, details: SessionDetails,
                     meetings: Sequence[tuple[datetime, datetime]], instructors: Sequence[Employee] = (),
                     *, cohort_only: bool = False) -> TrainingSession:
    _check(details, meetings)
    timestamp = now()
    training_session = TrainingSession(course_id=course.id, status=SessionStatus.SCHEDULED, seats_taken=0, sequence=0,
                              created_at=timestamp, updated_at=timestamp, cohort_only=cohort_only,
                              **details.__dict__)
    training_session.course = course
    _set_meetings(training_session, meetings)
    training_session.instructors = list(instructors)
    db_session.add(training_session)
    db_session.flush()
    record_event(actor, "scheduling.session_scheduled", "training_session", training_session.id,
                 after={"course": course.code, "starts_at": training_session.starts_at.isoformat(),
                        "capacity": training_session.capacity}, summary=course.code)
    return training_session


def update_session(actor: Employee | None, training_session: TrainingSession, details: SessionDetails,
                   meetings: Sequence[tuple[datetime, datetime]], instructors: Sequence[Employee]) -> None:
    """Edit a session. Changed times count as a move (everyone enrolled is told); a larger
    capacity lets the waitlist move up; a capacity below the seats already held is refused."""
    # The row lock first (as every enrolment writer takes it), then the facts as they are now.
    db_session.refresh(training_session, ["status", "capacity", "seats_taken"], with_for_update=True)
    if training_session.status == SessionStatus.CANCELLED:
        raise SchedulingError("status", _("This session has been cancelled."))
    _check(details, meetings)
    if details.capacity < training_session.seats_taken:
        raise SchedulingError("capacity", _("%(taken)s seats are already taken; capacity cannot go below that.",
                                            taken=training_session.seats_taken))
    before = {"starts_at": training_session.starts_at.isoformat(), "capacity": training_session.capacity,
              "location": training_session.location, "min_presence_pct": training_session.min_presence_pct,
              "meetings": [(m.starts_at.isoformat(), m.ends_at.isoformat())
                           for m in training_session.meetings]}
    old_times = [(m.starts_at, m.ends_at) for m in sorted(training_session.meetings, key=lambda m: m.starts_at)]
    old_capacity, old_place = training_session.capacity, (training_session.location, training_session.online_url)
    for key, value in details.__dict__.items():
        if key != "capacity":
            setattr(training_session, key, value)
    _set_meetings(training_session, meetings)
    training_session.instructors = list(instructors)
    training_session.updated_at = now()
    moved = sorted(meetings) != old_times or (training_session.location, training_session.online_url) != old_place
    if moved:
        training_session.sequence += 1
    if details.capacity != old_capacity:
        # The guard repeats the check in SQL, so a seat claimed meanwhile cannot be squeezed out.
        result = db_session.execute(
            update(TrainingSession).where(TrainingSession.id == training_session.id,
                                          TrainingSession.seats_taken <= details.capacity)
            .values(capacity=details.capacity).execution_options(synchronize_session=False))
        if rows_changed(result) != 1:
            raise SchedulingError("capacity", _("Seats were taken meanwhile; reload and try again."))
        db_session.refresh(training_session, ["capacity", "seats_taken"])
    db_session.flush()
    record_event(actor, "scheduling.session_updated", "training_session", training_session.id, before=before,
                 after={"starts_at": training_session.starts_at.isoformat(), "capacity": training_session.capacity,
                        "location": training_session.location, "min_presence_pct": training_session.min_presence_pct,
                        "meetings": [(m.starts_at.isoformat(), m.ends_at.isoformat())
                                     for m in training_session.meetings]})
    if moved:
        emit(SessionMoved(training_session.id, actor.id if actor else None))
    if details.capacity > old_capacity:
        emit(SessionCapacityIncreased(training_session.id, actor.id if actor else None))


def cancel_session(actor: Employee | None, training_session: TrainingSession, reason: str) -> bool:
    """Cancel a session once (scheduled → cancelled, one guarded UPDATE): a second click or a
    second HR user finds it cancelled and changes nothing. True when this call cancelled it."""
    at = now()
    cancelled = rows_changed(db_session.execute(
        update(TrainingSession).where(TrainingSession.id == training_session.id,
                                      TrainingSession.status == SessionStatus.SCHEDULED)
        .values(status=SessionStatus.CANCELLED, cancelled_at=at, sequence=TrainingSession.sequence + 1,
                updated_at=at).execution_options(synchronize_session=False)))
    db_session.refresh(training_session, ["status", "cancelled_at", "sequence", "updated_at"])
    if not cancelled:
        return False
    record_event(actor, "scheduling.session_cancelled", "training_session", training_session.id,
                 before={"status": "scheduled"}, after={"status": "cancelled"}, summary=reason[:200])
    db_session.flush()
    emit(SessionCancelled(training_session.id, actor.id if actor else None, reason))
    return True
