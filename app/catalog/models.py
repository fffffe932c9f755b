"""Courses and programmes share one table: both are browsed, searched, assigned, versioned and
synced from `courses/` the same way; a programme adds an ordered list of member courses."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, enum_column
from app.org.models import Employee, Grade, Unit


class CourseKind(enum.StrEnum):
    COURSE = "course"
    PROGRAMME = "programme"


class Track(enum.StrEnum):
    GRADE_TRAINING = "grade_training"  # 階層別（職級別）研修
    COHORT_PROGRAMME = "cohort_programme"  # スマート人材育成など選抜型
    ELECTIVE = "elective"  # 選択研修


class Theme(enum.StrEnum):
    SMART_GOVERNMENT = "smart_government"
    SMART_WORKSTYLE = "smart_workstyle"
    SMART_SOLUTIONS = "smart_solutions"
    GENERAL = "general"


class DeliveryFormat(enum.StrEnum):
    CLASSROOM = "classroom"
    ONLINE = "online"
    ELEARNING = "elearning"
    FIELDWORK = "fieldwork"
    BLENDED = "blended"


class CourseStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


class CourseSource(enum.StrEnum):
    FILE = "file"  # owned by courses/ and `flask catalog sync`
    WEB = "web"  # created in the curriculum designer


course_target_grades = Table(
    "course_target_grades",
    Base.metadata,
    Column("course_id", ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("grade_id", ForeignKey("grades.id", ondelete="CASCADE"), primary_key=True),
)

course_prerequisites = Table(
    "course_prerequisites",
    Base.metadata,
    Column("course_id", ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("prerequisite_id", ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    CheckConstraint("course_id <> prerequisite_id", name="not_self"),
)


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("hours >= 0", name="hours_non_negative"),
        CheckConstraint("min_attendance_pct BETWEEN 0 AND 100", name="attendance_pct_range"),
        CheckConstraint("quiz_pass_mark IS NULL OR quiz_pass_mark BETWEEN 0 AND 100", name="pass_mark_range"),
        CheckConstraint("electives_required >= 0", name="electives_non_negative"),
        CheckConstraint("valid_for_months IS NULL OR valid_for_months BETWEEN 1 AND 120",
                        name="valid_for_months_range"),
        Index("ix_courses_catalog", "status", "fiscal_year", "track"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[CourseKind] = mapped_column(enum_column(CourseKind))
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    track: Mapped[Track] = mapped_column(enum_column(Track))
    theme: Mapped[Theme] = mapped_column(enum_column(Theme))
    delivery_format: Mapped[DeliveryFormat] = mapped_column(enum_column(DeliveryFormat))
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    fiscal_year: Mapped[int] = mapped_column(Integer, index=True)
    body_md: Mapped[str] = mapped_column(Text, default="")
    min_attendance_pct: Mapped[int] = mapped_column(Integer, default=100)
    quiz_pass_mark: Mapped[int | None] = mapped_column(Integer)
    survey_required: Mapped[bool] = mapped_column(Boolean, default=False)
    electives_required: Mapped[int] = mapped_column(Integer, default=0)
    quiz_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    valid_for_months: Mapped[int | None] = mapped_column(Integer)  # a completion expires after this (None: never)
    modules_spec: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # e-learning (catalog/module_files.py)
    # a programme's rubric per milestone (plan, interim, final_report, presentation): see course_files
    rubrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[CourseStatus] = mapped_column(enum_column(CourseStatus))
    source: Mapped[CourseSource] = mapped_column(enum_column(CourseSource))
    source_path: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    # A file course against its file: when `flask catalog sync` last applied (or confirmed) it and
    # the hash it applied; the latest web edit since then (who, when). Sync refuses to overwrite a
    # web edit unless forced, and clears these once the course matches its file again.
    synced_at: Mapped[datetime | None]
    synced_hash: Mapped[str | None] = mapped_column(String(64))
    web_edited_at: Mapped[datetime | None]
    web_edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))  # staff are never deleted

    web_edited_by: Mapped[Employee | None] = relationship(foreign_keys=[web_edited_by_id])
    target_grades: Mapped[list[Grade]] = relationship(secondary=course_target_grades, order_by=Grade.rank)
    prerequisites: Mapped[list[Course]] = relationship(
        secondary=course_prerequisites,
        primaryjoin=lambda: Course.id == course_prerequisites.c.course_id,
        secondaryjoin=lambda: Course.id == course_prerequisites.c.prerequisite_id,
        order_by=lambda: Course.code,
    )
    items: Mapped[list[ProgrammeItem]] = relationship(
        foreign_keys=lambda: [ProgrammeItem.programme_id], order_by=lambda: ProgrammeItem.position,
        cascade="all, delete-orphan",
    )

    @property
    def is_programme(self) -> bool:
        return self.kind == CourseKind.PROGRAMME

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title_ja


class ProgrammeItem(Base):
    """A course in a programme, in order; required, or one of the electives."""

    __tablename__ = "programme_items"
    __table_args__ = (
        UniqueConstraint("programme_id", "course_id"),
        CheckConstraint("programme_id <> course_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    is_required: Mapped[bool] = mapped_column(Boolean, default=True)

    course: Mapped[Course] = relationship(foreign_keys=[course_id])


class CourseVersion(Base):
    """A snapshot of a course each time its content changed, so that what people enrolled in
    stays traceable after later edits."""

    __tablename__ = "course_versions"
    __table_args__ = (UniqueConstraint("course_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    change_note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    created_by: Mapped[Employee | None] = relationship()


assignment_rule_departments = Table(
    "assignment_rule_departments",
    Base.metadata,
    Column("rule_id", ForeignKey("assignment_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
)


class Recurrence(enum.StrEnum):
    NONE = "none"
    FISCAL_YEAR = "fiscal_year"  # a new cycle every 年度, due on the same day each year
    MONTHS = "months"  # a new cycle every `interval_months`, counted from the first due date


class AssignmentRule(Base):
    """"Every employee of grade G (optionally in departments D) must complete X by T in FY Y",
    once or again every cycle (app/catalog/recurrence.py)."""

    __tablename__ = "assignment_rules"
    __table_args__ = (
        UniqueConstraint("course_id", "grade_id", "fiscal_year"),
        CheckConstraint("(recurrence = 'months' AND interval_months BETWEEN 1 AND 120) "
                        "OR (recurrence <> 'months' AND interval_months IS NULL)", name="interval_for_months"),
        Index("uq_assignment_rules_previous_rule_id", "previous_rule_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    recurrence: Mapped[Recurrence] = mapped_column(enum_column(Recurrence), default=Recurrence.NONE,
                                                   server_default=Recurrence.NONE.value)
    interval_months: Mapped[int | None] = mapped_column(Integer)
    # The rule of the previous fiscal year this one was rolled over from: unique, so a rule rolls
    # over once. No foreign key: rules are never deleted (only switched off), and SQLite can add
    # and drop a plain column without rebuilding a table that others reference.
    previous_rule_id: Mapped[int | None] = mapped_column(Integer)
    rolled_over_at: Mapped[datetime | None]  # set once by the guarded roll-over (catalog/transitions.py)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    course: Mapped[Course] = relationship()
    grade: Mapped[Grade] = relationship()
    departments: Mapped[list[Unit]] = relationship(secondary=assignment_rule_departments, order_by=Unit.code)


class AssignmentStatus(enum.StrEnum):
    ACTIVE = "active"  # owed
    WITHDRAWN = "withdrawn"  # left the grade or department: kept as history, no longer counted
    SUPERSEDED = "superseded"  # a later cycle of the same rule replaced it: kept as history


class Assignment(Base):
    """A rule materialised for one employee and one cycle, with a due date. A recurring rule gives
    each person one row per cycle; earlier cycles stay as history."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("rule_id", "employee_id", "cycle"),
        CheckConstraint("cycle >= 1", name="cycle_positive"),
        Index("ix_assignments_employee_status", "employee_id", "status"),
        Index("ix_assignments_course_status", "course_id", "status"),
        Index("ix_assignments_fiscal_year_status", "fiscal_year", "status"),  # HR's compliance view
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("assignment_rules.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    cycle: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Only a completion on or after this day counts for this cycle (None: any current completion).
    opens_on: Mapped[date | None]
    due_on: Mapped[date]
    status: Mapped[AssignmentStatus] = mapped_column(enum_column(AssignmentStatus))
    assigned_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship()
    employee: Mapped[Employee] = relationship()
