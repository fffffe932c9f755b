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
    status: Mapped[CourseStatus] = mapped_column(enum_column(CourseStatus))
    source: Mapped[CourseSource] = mapped_column(enum_column(CourseSource))
    source_path: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

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


class AssignmentRule(Base):
    """"Every employee of grade G (optionally in departments D) must complete X by T in FY Y"."""

    __tablename__ = "assignment_rules"
    __table_args__ = (UniqueConstraint("course_id", "grade_id", "fiscal_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    course: Mapped[Course] = relationship()
    grade: Mapped[Grade] = relationship()
    departments: Mapped[list[Unit]] = relationship(secondary=assignment_rule_departments, order_by=Unit.code)


class AssignmentStatus(enum.StrEnum):
    ACTIVE = "active"  # owed
    WITHDRAWN = "withdrawn"  # left the grade or department: kept as history, no longer counted


class Assignment(Base):
    """A rule materialised for one employee, with a due date."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("rule_id", "employee_id"),
        Index("ix_assignments_employee_status", "employee_id", "status"),
        Index("ix_assignments_course_status", "course_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("assignment_rules.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date]
    status: Mapped[AssignmentStatus] = mapped_column(enum_column(AssignmentStatus))
    assigned_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship()
    employee: Mapped[Employee] = relationship()
