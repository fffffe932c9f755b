"""The attendance mark's state machine. Every change of a mark is one guarded statement in this
module and is audited (before → after) by the move that made it, once.

Attendance mark (one per enrolment and meeting: the unique constraint)::

    (none) ──mark (roster) / check in (QR code) / import (participant list)──► STATUS
    STATUS ──mark, as the marker saw it──► another STATUS or remark
    ABSENT, EXCUSED ──check in on arrival──► PRESENT or LATE

    STATUS is present, late, left early (these count as attended), absent or excused.

Creating is an INSERT that the unique (enrolment, meeting) settles: a second check-in or an
instructor marking at the same moment loses and changes nothing. Changing is `UPDATE
attendance_marks SET … WHERE id = :id AND status = :from AND remark = :from_remark` with the mark
as the actor saw it (on the roster page, or as just read), so a check-in is never overwritten by
a roster saved from an older page. The loser gets `Stale`; nothing else happens.

Participant list of a meeting (app/attendance/participants.py)::

    (upload) ──► PREVIEWED ──apply──► APPLIED      (marks set from the minutes, once)

One person of a list::

    MATCHED (by e-mail)
    UNMATCHED ──match by hand──► MATCHED_BY_HAND   (then marked by the same minute rule)
    UNMATCHED ──not a participant──► DISMISSED

Both are `UPDATE … WHERE id = :id AND state = :from`: a second click, or two people matching the
same guest at once, change it once; the loser gets `Stale`. Each move is audited once.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from app.attendance.models import (
    AttendanceMark,
    AttendanceStatus,
    ImportedParticipant,
    ImportState,
    MarkSource,
    ParticipantImport,
    ParticipantMatch,
)
from app.audit.services import record_event
from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.enrollment.models import Enrolment
from app.org.models import Employee
from app.scheduling.models import Meeting


class Stale(Exception):
    """The mark was made or changed by someone else since it was read."""


@dataclass(frozen=True)
class Seen:
    """A mark as the actor saw it: None for no mark yet."""

    status: AttendanceStatus
    remark: str


def create(actor: Employee | None, enrolment: Enrolment, meeting: Meeting, status: AttendanceStatus, remark: str,
           source: MarkSource) -> AttendanceMark:
    """(none) → STATUS, or `Stale` if a mark was made meanwhile."""
    mark = AttendanceMark(enrolment_id=enrolment.id, meeting_id=meeting.id, status=status, remark=remark,
                          source=source, marked_at=now(), marked_by_id=actor.id if actor else None)
    try:
        with db_session.begin_nested():
            db_session.add(mark)
            db_session.flush()
    except IntegrityError:
        raise Stale(f"{enrolment.id}:{meeting.id}") from None
    _audit(actor, enrolment, meeting, None, mark)
    return mark


def change(actor: Employee | None, enrolment: Enrolment, meeting: Meeting, mark: AttendanceMark, seen: Seen,
           status: AttendanceStatus, remark: str, source: MarkSource) -> None:
    """`seen` → STATUS (and remark), or `Stale` if the mark is no longer as seen."""
    values = {"status": status, "remark": remark, "source": source, "marked_at": now(),
              "marked_by_id": actor.id if actor else None}
    moved = rows_changed(db_session.execute(update(AttendanceMark).where(
        AttendanceMark.id == mark.id, AttendanceMark.status == seen.status, AttendanceMark.remark == seen.remark)
        .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        db_session.refresh(mark)
        raise Stale(f"{enrolment.id}:{meeting.id}")
    db_session.refresh(mark)
    _audit(actor, enrolment, meeting, seen, mark)


def _audit(actor: Employee | None, enrolment: Enrolment, meeting: Meeting, seen: Seen | None,
           mark: AttendanceMark) -> None:
    record_event(actor, "attendance.marked", "attendance", f"{enrolment.id}:{meeting.id}",
                 before=None if seen is None else {"status": seen.status.value, "remark": seen.remark},
                 after={"status": mark.status.value, "remark": mark.remark, "source": mark.source.value},
                 summary=enrolment.employee.employee_number if enrolment.employee else "")


def apply_import(actor: Employee, participant_import: ParticipantImport) -> None:
    """PREVIEWED → APPLIED, or `Stale` if it was applied meanwhile."""
    at = now()
    moved = rows_changed(db_session.execute(update(ParticipantImport).where(
        ParticipantImport.id == participant_import.id, ParticipantImport.state == ImportState.PREVIEWED)
        .values(state=ImportState.APPLIED, applied_at=at, applied_by_id=actor.id)
        .execution_options(synchronize_session=False)))
    db_session.refresh(participant_import)
    if moved != 1:
        raise Stale(f"import:{participant_import.id}")
    record_event(actor, "attendance.participants_applied", "participant_import", participant_import.id,
                 before={"state": ImportState.PREVIEWED.value},
                 after={"state": ImportState.APPLIED.value, "meeting": participant_import.meeting_id,
                        "file": participant_import.file_name},
                 summary=participant_import.file_name)


def settle_participant(actor: Employee, participant: ImportedParticipant, enrolment: Enrolment | None) -> None:
    """UNMATCHED → MATCHED_BY_HAND (to `enrolment`) or DISMISSED (None), or `Stale` if someone
    settled it meanwhile."""
    to = ParticipantMatch.DISMISSED if enrolment is None else ParticipantMatch.MATCHED_BY_HAND
    moved = rows_changed(db_session.execute(update(ImportedParticipant).where(
        ImportedParticipant.id == participant.id, ImportedParticipant.match == ParticipantMatch.UNMATCHED)
        .values(match=to, enrolment_id=enrolment.id if enrolment else None, matched_at=now(),
                matched_by_id=actor.id)
        .execution_options(synchronize_session=False)))
    db_session.refresh(participant)
    if moved != 1:
        raise Stale(f"participant:{participant.id}")
    record_event(actor, "attendance.participant_matched", "imported_participant", participant.id,
                 before={"match": ParticipantMatch.UNMATCHED.value, "reason": participant.reason},
                 after={"match": to.value, "enrolment": enrolment.id if enrolment else None,
                        "employee": enrolment.employee.employee_number if enrolment else None,
                        "name": participant.name, "email": participant.email, "minutes": participant.minutes,
                        "import": participant.import_id},
                 summary=participant.name or participant.email)
