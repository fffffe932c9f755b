"""Attendance from web-meeting participant lists, by minutes.

A list is read (app/attendance/participant_files.py), stored as PREVIEWED and shown: each person
with their minutes in the meeting (every join summed, overlaps counted once, clipped to the
meeting's scheduled time), the share of that time, and what the session's rule
(`TrainingSession.min_presence_pct`, default 75 %) makes of it. Applying it (once: a guarded move
in app/attendance/transitions.py) marks the matched people PRESENT when their share reaches the
rule and ABSENT when it does not. People the list does not tie to anyone enrolled (a guest
without an e-mail, an address of nobody in the session) are kept as UNMATCHED until HR or the
instructor matches them by hand to an enrolled person (the same rule then applies, with the
person's minutes from every list of the meeting) or says they are not a participant.

What an import does to a mark already there: a mark that says attended (a check-in, the
instructor's "late") is kept when the minutes say present; a mark made by hand (roster, check-in)
is kept when the minutes fall short (the person may have been in the room): only a mark an
import made is lowered to absent. Marks change from the state read (`set_mark(seen=…)`), so one
recorded meanwhile stays; every change is audited by the mark's transition.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.attendance import transitions
from app.attendance.events import AttendanceChanged
from app.attendance.models import (
    ATTENDED,
    COUNTED_MATCHES,
    AttendanceMark,
    AttendanceStatus,
    ImportedParticipant,
    ImportState,
    MarkSource,
    ParticipantImport,
    ParticipantMatch,
)
from app.attendance.participant_files import Interval, ParsedList, clip, read_participants, seconds
from app.attendance.services import (
    AttendanceError,
    Seen,
    Stale,
    current_mark,
    joined_before,
    marks_for_meeting,
    roster_enrolments,
    set_mark,
)
from app.audit.services import record_event
from app.core.clock import now
from app.core.db import db_session
from app.core.events import emit
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee
from app.scheduling.models import Meeting
from app.web.confirmations import fingerprint
from app.web.locale import gettext as _

REASON_NO_EMAIL = "no_email"
REASON_NOT_ENROLLED = "not_enrolled"
REASON_ENROLLED_LATER = "enrolled_later"


class ImportRefused(Exception):
    """The file has problems (each naming the file, the line and the column); nothing is stored."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def scheduled_seconds(meeting: Meeting) -> int:
    return int((meeting.ends_at - meeting.starts_at).total_seconds())


def required_pct(meeting: Meeting) -> int:
    return meeting.training_session.min_presence_pct


def share_pct(meeting: Meeting, covered: int) -> int:
    """The share of the scheduled time, in whole percent rounded down (74.9 % is not 75 %)."""
    return covered * 100 // max(1, scheduled_seconds(meeting))


def status_for(meeting: Meeting, covered: int) -> AttendanceStatus:
    """What the session's rule makes of `covered` seconds in the meeting."""
    enough = covered * 100 >= required_pct(meeting) * scheduled_seconds(meeting)
    return AttendanceStatus.PRESENT if enough else AttendanceStatus.ABSENT


def _encode(intervals: list[Interval]) -> list[list[str]]:
    return [[s.astimezone(UTC).isoformat(), e.astimezone(UTC).isoformat()] for s, e in intervals]


def _decode(stored: list[list[str]]) -> list[Interval]:
    return [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in stored]


# --- upload: read, match by e-mail, store as a preview -------------------------------------------


def upload(actor: Employee, meeting: Meeting, raw: bytes, file_name: str) -> ParticipantImport:
    """Store the list as PREVIEWED (no mark changes), or raise `ImportRefused` storing nothing."""
    parsed: ParsedList = read_participants(raw, file_name, meeting.starts_at, meeting.ends_at)
    if parsed.problems:
        raise ImportRefused(parsed.problems)
    confirmed = roster_enrolments(meeting)
    by_email = {e.employee.email.lower(): e for e in confirmed}
    participant_import = ParticipantImport(meeting_id=meeting.id, file_name=file_name[:200],
                                           file_format=parsed.file_format, state=ImportState.PREVIEWED,
                                           uploaded_at=now(), uploaded_by_id=actor.id)
    for person in parsed.participants:
        inside = clip(person.intervals, meeting.starts_at, meeting.ends_at)
        enrolment = by_email.get(person.email) if person.email else None
        reason = ""
        if not person.email:
            reason = REASON_NO_EMAIL
        elif enrolment is None:
            reason = REASON_NOT_ENROLLED
        elif not joined_before(enrolment, meeting):
            enrolment, reason = None, REASON_ENROLLED_LATER
        participant_import.participants.append(ImportedParticipant(
            first_line=person.lines[0], lines=", ".join(str(n) for n in person.lines)[:200], name=person.name,
            email=person.email, intervals=_encode(inside), minutes=seconds(inside) // 60,
            match=ParticipantMatch.MATCHED if enrolment else ParticipantMatch.UNMATCHED, reason=reason,
            enrolment_id=enrolment.id if enrolment else None))
    db_session.add(participant_import)
    db_session.flush()
    record_event(actor, "attendance.participants_uploaded", "participant_import", participant_import.id,
                 after={"meeting": meeting.id, "file": participant_import.file_name,
                        "format": parsed.file_format, "people": len(parsed.participants),
                        "unmatched": sum(1 for p in participant_import.participants
                                         if p.match == ParticipantMatch.UNMATCHED)},
                 summary=participant_import.file_name)
    return participant_import


# --- minutes per enrolment -----------------------------------------------------------------------


def covered_by_enrolment(meeting: Meeting, also: ParticipantImport | None = None) -> dict[int, int]:
    """Seconds in the meeting per enrolment, from every applied list of the meeting (and `also`,
    a list being previewed): the same person in two lists, or matched twice, counts once."""
    stmt = (select(ImportedParticipant.enrolment_id, ImportedParticipant.intervals)
            .join(ParticipantImport, ImportedParticipant.import_id == ParticipantImport.id)
            .where(ParticipantImport.meeting_id == meeting.id, ImportedParticipant.match.in_(COUNTED_MATCHES)))
    if also is None:
        stmt = stmt.where(ParticipantImport.state == ImportState.APPLIED)
    else:
        stmt = stmt.where((ParticipantImport.state == ImportState.APPLIED) | (ParticipantImport.id == also.id))
    gathered: dict[int, list[Interval]] = {}
    for enrolment_id, stored in db_session.execute(stmt):
        if enrolment_id is not None:  # always, for a counted match (a CHECK says so)
            gathered.setdefault(enrolment_id, []).extend(_decode(stored))
    return {e: seconds(clip(found, meeting.starts_at, meeting.ends_at)) for e, found in gathered.items()}


def _target(mark: AttendanceMark | None, wanted: AttendanceStatus) -> AttendanceStatus | None:
    """The status the import sets over `mark`, or None to keep the mark."""
    if wanted == AttendanceStatus.PRESENT:
        return None if mark is not None and mark.status in ATTENDED else wanted
    if mark is None or (mark.source == MarkSource.IMPORT and mark.status != AttendanceStatus.ABSENT):
        return wanted
    return None


def _mark_by_minutes(actor: Employee, meeting: Meeting, enrolment_ids: list[int]) -> int:
    """Set the marks of these enrolments from their minutes; returns how many changed."""
    if not enrolment_ids:
        return 0
    changed = []
    enrolments = db_session.scalars(select(Enrolment).where(
        Enrolment.id.in_(enrolment_ids), Enrolment.session_id == meeting.session_id,
        Enrolment.state == EnrolmentState.CONFIRMED).order_by(Enrolment.id))
    for enrolment in enrolments:
        if not joined_before(enrolment, meeting):
            continue
        for _attempt in range(2):  # once more if a mark was made meanwhile (then from it)
            covered = covered_by_enrolment(meeting).get(enrolment.id, 0)
            mark = current_mark(enrolment.id, meeting.id)
            status = _target(mark, status_for(meeting, covered))
            if status is None:
                break
            try:
                if set_mark(actor, enrolment, meeting, status, mark.remark if mark else "", source=MarkSource.IMPORT,
                            announce=False, seen=None if mark is None else Seen(mark.status, mark.remark)):
                    changed.append(enrolment.id)
                break
            except Stale:
                continue
    if changed:
        emit(AttendanceChanged(tuple(changed)))
    return len(changed)


# --- apply, and settle by hand -------------------------------------------------------------------


def apply(actor: Employee, participant_import: ParticipantImport) -> int:
    """Mark the matched people by their minutes (once per list); returns the marks changed.
    Raises `Stale` when the list was applied already (a second click, another tab)."""
    transitions.apply_import(actor, participant_import)
    meeting = db_session.get(Meeting, participant_import.meeting_id)
    assert meeting is not None
    ids = sorted({p.enrolment_id for p in participant_import.participants if p.enrolment_id is not None})
    return _mark_by_minutes(actor, meeting, ids)


def match_choices(meeting: Meeting) -> list[Enrolment]:
    """Whom an unmatched participant can be matched to: confirmed, and enrolled before the meeting."""
    return [e for e in roster_enrolments(meeting) if joined_before(e, meeting)]


def settle(actor: Employee, participant: ImportedParticipant, enrolment: Enrolment | None) -> int:
    """Match an unmatched participant by hand to `enrolment` and mark them by the same rule, or
    (None) record that they are not a participant. Raises `Stale` if someone settled them
    meanwhile, `AttendanceError` if the list is not applied or the person cannot be chosen."""
    participant_import = participant.participant_import
    meeting = db_session.get(Meeting, participant_import.meeting_id)
    assert meeting is not None
    if participant_import.state != ImportState.APPLIED:
        raise AttendanceError(_("Apply the list first; then match the people it could not match."))
    if enrolment is not None and enrolment.id not in {e.id for e in match_choices(meeting)}:
        raise AttendanceError(_("Choose someone enrolled in this session before the meeting."))
    transitions.settle_participant(actor, participant, enrolment)
    return 0 if enrolment is None else _mark_by_minutes(actor, meeting, [enrolment.id])


# --- reads for the pages -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One person of a list as the page shows them."""

    participant: ImportedParticipant
    enrolment: Enrolment | None
    covered: int  # seconds: the enrolment's from every list (with this one), or this row's own
    share: int  # % of the scheduled time
    verdict: AttendanceStatus  # what the rule makes of it
    mark: AttendanceMark | None  # the mark now
    sets: AttendanceStatus | None  # what applying sets (None: the mark is kept)

    @property
    def minutes(self) -> int:
        return self.covered // 60


def imports_of(meeting: Meeting) -> list[ParticipantImport]:
    return list(db_session.scalars(select(ParticipantImport).where(ParticipantImport.meeting_id == meeting.id)
                                   .order_by(ParticipantImport.id.desc())))


def load_import(meeting: Meeting, import_id: int | None) -> ParticipantImport | None:
    """The meeting's list `import_id` (None: the latest), with its people."""
    stmt = (select(ParticipantImport).where(ParticipantImport.meeting_id == meeting.id)
            .options(selectinload(ParticipantImport.participants)))
    stmt = stmt.where(ParticipantImport.id == import_id) if import_id is not None else stmt.order_by(
        ParticipantImport.id.desc()).limit(1)
    return db_session.scalars(stmt).first()


def rows_of(meeting: Meeting, participant_import: ParticipantImport) -> list[Row]:
    covered = covered_by_enrolment(meeting, also=participant_import
                                   if participant_import.state == ImportState.PREVIEWED else None)
    enrolments = {e.id: e for e in roster_enrolments(meeting)}
    marks = marks_for_meeting(meeting.id)
    rows = []
    for participant in participant_import.participants:
        enrolment = enrolments.get(participant.enrolment_id) if participant.enrolment_id else None
        seconds_in = (covered.get(enrolment.id, 0) if enrolment
                      else seconds(clip(_decode(participant.intervals), meeting.starts_at, meeting.ends_at)))
        verdict = status_for(meeting, seconds_in)
        mark = marks.get(enrolment.id) if enrolment else None
        rows.append(Row(participant, enrolment, seconds_in, share_pct(meeting, seconds_in), verdict, mark,
                        _target(mark, verdict) if enrolment else None))
    return rows


def rows_fingerprint(participant_import: ParticipantImport, rows: list[Row]) -> str:
    """The digest of the preview of a list (app/web/confirmations.py): applying it sets what the
    page showed, or nothing."""
    return fingerprint(participant_import.id, participant_import.state.value,
                       [(row.participant.id, row.enrolment.id if row.enrolment else None,
                         row.sets.value if row.sets else None, row.mark.status.value if row.mark else None)
                        for row in rows])


def unmatched_counts(meeting_ids: list[int]) -> dict[int, int]:
    """Per meeting: people of applied lists still waiting to be matched (the teaching page)."""
    if not meeting_ids:
        return {}
    return dict(db_session.execute(
        select(ParticipantImport.meeting_id, func.count(ImportedParticipant.id))
        .join(ImportedParticipant, ImportedParticipant.import_id == ParticipantImport.id)
        .where(ParticipantImport.meeting_id.in_(meeting_ids), ParticipantImport.state == ImportState.APPLIED,
               ImportedParticipant.match == ParticipantMatch.UNMATCHED)
        .group_by(ParticipantImport.meeting_id)).all())


def covered_for_roster(meeting: Meeting) -> dict[int, int]:
    """Seconds in the web meeting per enrolment, from the applied lists (shown on the roster)."""
    return covered_by_enrolment(meeting)
