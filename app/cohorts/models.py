from __future__ import annotations

import enum
import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Course
from app.core.db import Base, enum_column
from app.org.models import Employee, Grade, Unit

cohort_eligible_grades = Table(
    "cohort_eligible_grades",
    Base.metadata,
    Column("cohort_id", ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True),
    Column("grade_id", ForeignKey("grades.id", ondelete="CASCADE"), primary_key=True),
)


class Cohort(Base):
    """One intake (期) of a cohort programme in a fiscal year. `selected_count` is only changed by a
    conditional UPDATE, so the quota holds even when two HR users select at the same moment."""

    __tablename__ = "cohorts"
    __table_args__ = (
        CheckConstraint("quota > 0", name="quota_positive"),
        CheckConstraint("selected_count >= 0 AND selected_count <= quota", name="selected_within_quota"),
        CheckConstraint("applications_close_at > applications_open_at", name="window_ordered"),
        UniqueConstraint("programme_id", "fiscal_year", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))  # e.g. 第1期
    applications_open_at: Mapped[datetime]
    applications_close_at: Mapped[datetime]
    quota: Mapped[int] = mapped_column(Integer)
    selected_count: Mapped[int] = mapped_column(Integer, default=0)
    requires_endorsement: Mapped[bool] = mapped_column(Boolean, default=True)
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)  # the application form's questions
    min_attendance_pct: Mapped[int] = mapped_column(Integer, default=80)
    final_score_bar: Mapped[int] = mapped_column(Integer, default=60)  # percent of the presentation rubric
    results_published_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    programme: Mapped[Course] = relationship()
    eligible_grades: Mapped[list[Grade]] = relationship(secondary=cohort_eligible_grades, order_by=Grade.rank)
    caps: Mapped[list[DepartmentCap]] = relationship(cascade="all, delete-orphan")


class DepartmentCap(Base):
    __tablename__ = "cohort_department_caps"
    __table_args__ = (
        UniqueConstraint("cohort_id", "unit_id"),
        CheckConstraint("cap >= 0", name="cap_non_negative"),
        CheckConstraint("selected_count >= 0 AND selected_count <= cap", name="selected_within_cap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    cap: Mapped[int] = mapped_column(Integer)
    selected_count: Mapped[int] = mapped_column(Integer, default=0)

    unit: Mapped[Unit] = relationship()


class Endorsement(enum.StrEnum):
    PENDING = "pending"
    ENDORSED = "endorsed"
    DECLINED = "declined"


class Decision(enum.StrEnum):
    UNDECIDED = "undecided"
    SELECTED = "selected"
    RESERVE = "reserve"
    DECLINED = "declined"


class Application(Base):
    """One person's application to one cohort; its states are drawn in app/cohorts/transitions.py."""

    __tablename__ = "cohort_applications"
    __table_args__ = (
        UniqueConstraint("cohort_id", "employee_id"),
        Index("ix_cohort_applications_cohort_decision", "cohort_id", "decision"),
        # one reserve per rank: two HR users ranking reserves at once cannot both take the same rank
        Index("ix_cohort_applications_reserve_rank", "cohort_id", "reserve_rank", unique=True),
        CheckConstraint("NOT (is_withdrawn AND decision = 'selected')", name="withdrawn_not_selected"),
        CheckConstraint("(decision = 'reserve' AND reserve_rank IS NOT NULL) OR "
                        "(decision <> 'reserve' AND reserve_rank IS NULL)", name="rank_only_for_reserves"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # at application time
    statement: Mapped[str] = mapped_column(Text)
    theme: Mapped[str] = mapped_column(String(40))
    answers: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    endorsement: Mapped[Endorsement] = mapped_column(enum_column(Endorsement))
    endorsed_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    # The head asked to endorse it (the applicant's manager); a transfer hands it to the new head.
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    endorsement_comment: Mapped[str] = mapped_column(String(1000), default="")
    decision: Mapped[Decision] = mapped_column(enum_column(Decision))
    reserve_rank: Mapped[int | None] = mapped_column(Integer)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    employee: Mapped[Employee] = relationship(foreign_keys=[employee_id])
    department: Mapped[Unit | None] = relationship()
    cohort: Mapped[Cohort] = relationship()


team_mentors = Table(
    "fieldwork_team_mentors",
    Base.metadata,
    Column("team_id", ForeignKey("fieldwork_teams.id", ondelete="CASCADE"), primary_key=True),
    Column("employee_id", ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
)


class FieldworkTeam(Base):
    __tablename__ = "fieldwork_teams"
    __table_args__ = (UniqueConstraint("cohort_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    host_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    theme: Mapped[str] = mapped_column(String(40))
    problem: Mapped[str] = mapped_column(Text, default="")  # the host division's real problem
    abstract: Mapped[str] = mapped_column(Text, default="")  # the final abstract, for the showcase

    host_unit: Mapped[Unit] = relationship()
    members: Mapped[list[TeamMember]] = relationship(cascade="all, delete-orphan")
    mentors: Mapped[list[Employee]] = relationship(secondary=team_mentors, order_by=Employee.name)


class TeamMember(Base):
    __tablename__ = "fieldwork_team_members"
    __table_args__ = (UniqueConstraint("cohort_id", "employee_id"),)  # one team per person per cohort

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("fieldwork_teams.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))

    employee: Mapped[Employee] = relationship()


class MilestoneKind(enum.StrEnum):
    PLAN = "plan"
    INTERIM = "interim"
    FINAL_REPORT = "final_report"
    PRESENTATION = "presentation"


class Milestone(Base):
    __tablename__ = "cohort_milestones"
    __table_args__ = (UniqueConstraint("cohort_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MilestoneKind] = mapped_column(enum_column(MilestoneKind))
    due_at: Mapped[datetime]
    per_team: Mapped[bool] = mapped_column(Boolean, default=True)  # or one submission per person
    # Its rubric is the programme's for this kind of milestone (Course.rubrics, from the programme's
    # file or HR's edit): one source for every cohort; each review keeps the rubric it was graded by.


class SubmissionStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"  # for revision
    ACCEPTED = "accepted"


class Submission(Base):
    """One version of a team's (or a person's) work for a milestone; its states are drawn in
    app/cohorts/transitions.py."""

    __tablename__ = "cohort_submissions"
    __table_args__ = (
        # Never binds: team_id or employee_id is always NULL, and NULLs are distinct. The two partial
        # indexes below are the real "one row per version" (two members submitting at once).
        UniqueConstraint("milestone_id", "team_id", "employee_id", "version"),
        Index("ix_cohort_submissions_milestone", "milestone_id", "team_id", "employee_id"),
        Index("ix_cohort_submissions_team_version", "milestone_id", "team_id", "version", unique=True,
              sqlite_where=text("team_id IS NOT NULL"), postgresql_where=text("team_id IS NOT NULL")),
        Index("ix_cohort_submissions_person_version", "milestone_id", "employee_id", "version", unique=True,
              sqlite_where=text("team_id IS NULL"), postgresql_where=text("team_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("cohort_milestones.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("fieldwork_teams.id", ondelete="CASCADE"))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))  # individual milestones
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    submitted_at: Mapped[datetime]
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[SubmissionStatus] = mapped_column(enum_column(SubmissionStatus))

    files: Mapped[list[SubmissionFile]] = relationship(cascade="all, delete-orphan")
    reviews: Mapped[list[Review]] = relationship(cascade="all, delete-orphan", order_by=lambda: Review.id)
    milestone: Mapped[Milestone] = relationship()
    submitted_by: Mapped[Employee] = relationship(foreign_keys=[submitted_by_id])


class SubmissionFile(Base):
    __tablename__ = "cohort_submission_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("cohort_submissions.id", ondelete="CASCADE"), index=True)
    original_name: Mapped[str] = mapped_column(String(200))  # cleaned; never used as a path
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)  # random
    content_type: Mapped[str] = mapped_column(String(120))  # detected from the bytes
    size: Mapped[int] = mapped_column(Integer)


class Review(Base):
    """The one review of a submitted version (a version is reviewed once; a new version follows a return)."""

    __tablename__ = "cohort_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("cohort_submissions.id", ondelete="CASCADE"), index=True,
                                               unique=True)
    mentor_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    accepted: Mapped[bool] = mapped_column(Boolean)
    # the rubric as it was when graded: [{"name", "levels": [{"label", "points", "description"}]}]
    rubric: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scores: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # criterion index -> level index
    points: Mapped[int] = mapped_column(Integer, default=0)
    max_points: Mapped[int] = mapped_column(Integer, default=0)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]

    mentor: Mapped[Employee] = relationship()

    def chosen_levels(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Each criterion of the rubric graded by, with the level the mentor chose (None if unscored)."""
        chosen = []
        for index, criterion in enumerate(self.rubric or []):
            levels = criterion.get("levels", [])
            level = self.scores.get(str(index))
            chosen.append((criterion, levels[level] if level is not None and 0 <= level < len(levels) else None))
        return chosen


def rubric_digest(rubric: list[dict[str, Any]]) -> str:
    """A short fingerprint of a rubric: the review form carries the one it showed, so scores given
    against a rubric that HR changed meanwhile are refused rather than misread."""
    payload = json.dumps(rubric, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
