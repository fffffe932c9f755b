from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
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
