from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, enum_column
from app.org.models import Employee


class AttendanceStatus(enum.StrEnum):
    PRESENT = "present"
    LATE = "late"
    LEFT_EARLY = "left_early"
    ABSENT = "absent"
    EXCUSED = "excused"


ATTENDED = (AttendanceStatus.PRESENT, AttendanceStatus.LATE, AttendanceStatus.LEFT_EARLY)


class MarkSource(enum.StrEnum):
    ROSTER = "roster"
    CHECK_IN = "check_in"
    IMPORT = "import"


class AttendanceMark(Base):
    """One mark per enrolment per meeting; the unique constraint settles double check-ins."""

    __tablename__ = "attendance_marks"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "meeting_id"),
        Index("ix_attendance_marks_meeting", "meeting_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    status: Mapped[AttendanceStatus] = mapped_column(enum_column(AttendanceStatus))
    remark: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[MarkSource] = mapped_column(enum_column(MarkSource))
    marked_at: Mapped[datetime]
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    marked_by: Mapped[Employee | None] = relationship()


# --- web-meeting participant lists (app/attendance/participants.py) ------------------------------


class ImportState(enum.StrEnum):
    PREVIEWED = "previewed"  # read and shown; nothing marked yet
    APPLIED = "applied"  # marks set from it (once: a guarded transition)


class ParticipantMatch(enum.StrEnum):
    MATCHED = "matched"  # by e-mail, to a person enrolled in the session
    UNMATCHED = "unmatched"  # a guest without an e-mail, or an e-mail of nobody enrolled: waits for a person
    MATCHED_BY_HAND = "matched_by_hand"  # to an enrolled person, by HR or the instructor
    DISMISSED = "dismissed"  # not a participant (a guest lecturer, an observer), said by HR or the instructor


COUNTED_MATCHES = (ParticipantMatch.MATCHED, ParticipantMatch.MATCHED_BY_HAND)


class ParticipantImport(Base):
    """One uploaded participant list of a meeting (a web-meeting system's export)."""

    __tablename__ = "participant_imports"
    __table_args__ = (Index("ix_participant_imports_meeting", "meeting_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(200))
    file_format: Mapped[str] = mapped_column(String(40))  # what the header looked like: "Zoom", "Teams"…
    state: Mapped[ImportState] = mapped_column(enum_column(ImportState))
    uploaded_at: Mapped[datetime]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    applied_at: Mapped[datetime | None]
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    participants: Mapped[list[ImportedParticipant]] = relationship(
        order_by=lambda: ImportedParticipant.first_line, cascade="all, delete-orphan",
        back_populates="participant_import")
    uploaded_by: Mapped[Employee | None] = relationship(foreign_keys=[uploaded_by_id])


class ImportedParticipant(Base):
    """One person of a participant list: every join row of theirs, merged (overlaps once) and
    clipped to the meeting. Counted toward an enrolment's minutes only while matched."""

    __tablename__ = "imported_participants"
    __table_args__ = (
        CheckConstraint("minutes >= 0", name="minutes_non_negative"),
        CheckConstraint("(enrolment_id IS NOT NULL) = (match IN ('matched', 'matched_by_hand'))",
                        name="matched_has_enrolment"),
        Index("ix_imported_participants_import", "import_id"),
        Index("ix_imported_participants_enrolment", "enrolment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("participant_imports.id", ondelete="CASCADE"))
    first_line: Mapped[int] = mapped_column(Integer)
    lines: Mapped[str] = mapped_column(String(200))  # "7, 13, 14": where the file has them
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    intervals: Mapped[list[list[str]]] = mapped_column(JSON)  # [[start, end] ISO UTC], merged, clipped
    minutes: Mapped[int] = mapped_column(Integer)
    match: Mapped[ParticipantMatch] = mapped_column(enum_column(ParticipantMatch))
    reason: Mapped[str] = mapped_column(String(20), default="")  # why unmatched: no_email, not_enrolled, late
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    matched_at: Mapped[datetime | None]
    matched_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    participant_import: Mapped[ParticipantImport] = relationship(back_populates="participants")
