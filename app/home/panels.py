"""The home page's panels: one per role the person has, each composed from the reads of the
domains (their queries.py), each a fixed number of statements whatever the data (a few items of
each list are loaded, with how many there are in all). Reads only.

    employee (everyone)   due and overdue assignments, next sessions (with a check-in button while
                          check-in is open), waitlist places, quizzes and surveys waiting, cohort
                          milestones due
    manager               requests to decide, endorsements waiting, the team's overdue
    HR                    today's sessions, requests at HR's stage, the outbox's failures, mandatory
                          training at a glance, background jobs under way
    instructor / mentor   today's rosters and check-in screens, answers and fieldwork to review
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

from app.assessment.queries import AttemptToGrade, attempts_to_grade_for, quizzes_waiting_for, surveys_waiting_for
from app.attendance.queries import checked_in, checkin_is_open
from app.cohorts.models import Application
from app.cohorts.queries import (
    MilestoneDue,
    WorkToReview,
    endorsements_waiting,
    milestones_due_for,
    submissions_to_review,
)
from app.completion.queries import OpenAssignment, OverduePerson, open_assignments_for, team_overdue
from app.core.clock import now, today, tokyo_datetime
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.elearning.queries import MyModule, quizzes_due_for
from app.enrollment.models import ApprovalStage, Enrolment
from app.enrollment.queries import requests_to_decide, upcoming_sessions_for, waitlist_places_for
from app.jobs.models import BackgroundJob
from app.jobs.queries import jobs_in_progress
from app.jobs.runner import KINDS as JOB_KINDS
from app.org.models import Employee, RoleName
from app.permissions import MANAGER, Permission, has_permission, has_role
from app.reminders.delivery import lease_ttl
from app.reminders.queries import outbox_trouble
from app.reports import compliance
from app.scheduling.models import Meeting
from app.scheduling.queries import meetings_between
from app.web.locale import gettext as _

SHOWN = 5  # items of each list on the home page; the rest are a link away (the count says how many)
WORST_SHOWN = 3  # the team's people longest overdue

T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The first few items of a list and how many there are in all."""

    items: list[T]
    total: int

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.items))

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class NextSession:
    enrolment: Enrolment
    next_meeting: Meeting | None  # the meeting under way or the next one
    checkin_meeting: Meeting | None  # the meeting whose check-in is open now
    is_checked_in: bool = False


@dataclass
class EmployeePanel:
    due: Listing[OpenAssignment]
    overdue: int  # of the `due` total
    sessions: Listing[NextSession]
    waitlist: Listing[tuple[Enrolment, int]]
    quizzes: Listing[Enrolment]
    modules: Listing[MyModule]  # e-learning modules whose closing quiz is still to pass
    surveys: Listing[Enrolment]
    milestones: Listing[MilestoneDue]

    @property
    def is_empty(self) -> bool:
        return not (self.due or self.sessions or self.waitlist or self.quizzes or self.modules or self.surveys
                    or self.milestones)


@dataclass
class ManagerPanel:
    requests: Listing[Enrolment]
    endorsements: Listing[Application]
    overdue_people: Listing[OverduePerson]
    overdue_assignments: int

    @property
    def is_empty(self) -> bool:
        return not (self.requests or self.endorsements or self.overdue_people)


@dataclass
class HRPanel:
    meetings: Listing[Meeting]
    requests: Listing[Enrolment]
    failed_messages: int
    stuck_messages: int
    fiscal_year: int
    compliance: compliance.Counts
    jobs: Listing[BackgroundJob]
    job_titles: dict[int, str]  # what each job does, in the reader's language

    @property
    def is_empty(self) -> bool:
        """Nothing to act on (the compliance figures are shown all the same: a glance, not a task)."""
        return not (self.meetings or self.requests or self.failed_messages or self.stuck_messages or self.jobs)


@dataclass
class TeachingPanel:
    meetings: Listing[Meeting]
    attempts: Listing[AttemptToGrade]
    reviews: Listing[WorkToReview]
    may_grade: bool

    @property
    def is_empty(self) -> bool:
        return not (self.meetings or self.attempts or self.reviews)


@dataclass
class HomePanels:
    employee: EmployeePanel
    manager: ManagerPanel | None = None
    hr: HRPanel | None = None
    teaching: TeachingPanel | None = None
    at: datetime = field(default_factory=now)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """The instants a Tokyo calendar day begins and ends."""
    start = tokyo_datetime(day, 0)
    return start, start + timedelta(days=1)


def _next_session(enrolment: Enrolment, at: datetime) -> NextSession:
    meetings = sorted(enrolment.training_session.meetings, key=lambda m: m.starts_at)
    open_now = next((m for m in meetings if checkin_is_open(m, at)), None)
    coming = next((m for m in meetings if m.ends_at > at), None)
    return NextSession(enrolment, coming, open_now)


def employee_panel(employee_id: int, at: datetime, day: date) -> EmployeePanel:
    """Everyone's part. At most nine statements: assignments, places, their meetings, check-in marks
    (only while a check-in is open), waitlist, quizzes, e-learning quizzes, surveys, milestones."""
    due, due_total, overdue = open_assignments_for(employee_id, day, SHOWN)
    places, places_total = upcoming_sessions_for(employee_id, SHOWN, at)
    sessions = [_next_session(enrolment, at) for enrolment in places]
    pairs = {(s.enrolment.id, s.checkin_meeting.id) for s in sessions if s.checkin_meeting is not None}
    done = checked_in(pairs)
    sessions = [NextSession(s.enrolment, s.next_meeting, s.checkin_meeting,
                            s.checkin_meeting is not None and (s.enrolment.id, s.checkin_meeting.id) in done)
                for s in sessions]
    return EmployeePanel(
        due=Listing(due, due_total), overdue=overdue,
        sessions=Listing(sessions, places_total),
        waitlist=Listing(*waitlist_places_for(employee_id, SHOWN, at)),
        quizzes=Listing(*quizzes_waiting_for(employee_id, at, SHOWN)),
        modules=Listing(*quizzes_due_for(employee_id, SHOWN)),
        surveys=Listing(*surveys_waiting_for(employee_id, at, SHOWN)),
        milestones=Listing(*milestones_due_for(employee_id, SHOWN)),
    )


def manager_panel(manager: Employee, day: date) -> ManagerPanel:
    """A unit head's part: three statements (requests at the manager's stage, endorsements, the
    team's overdue)."""
    people, people_total, assignments = team_overdue(manager, day, WORST_SHOWN)
    return ManagerPanel(
        requests=Listing(*requests_to_decide(manager, ApprovalStage.MANAGER, SHOWN)),
        endorsements=Listing(*endorsements_waiting(manager, SHOWN)),
        overdue_people=Listing(people, people_total), overdue_assignments=assignments,
    )


def compliance_totals(fiscal_year: int, day: date) -> compliance.Counts:
    """Mandatory training across the prefecture in a fiscal year, as the compliance view counts it
    (its one counting statement, with no filter but the year: no reference names are needed)."""
    totals = compliance.Counts()
    nothing_named = compliance.Reference(units={}, grades={}, courses={})
    statement = compliance.count_statement(compliance.Filters(fiscal_year=fiscal_year), nothing_named, day)
    for _unit, _grade, _course, bucket, what, number in db_session.execute(statement):
        totals.add(bucket, what == "done", number)
    return totals


def hr_panel(officer: Employee, at: datetime, day: date) -> HRPanel:
    """HR's part: five statements (today's meetings, requests at HR's stage, the outbox, the
    compliance count, jobs)."""
    failed, stuck = outbox_trouble(at - lease_ttl())
    year = fiscal_year_of(day).year
    jobs = Listing(*jobs_in_progress(SHOWN))
    return HRPanel(
        meetings=Listing(*meetings_between(*_day_bounds(day), SHOWN)),
        requests=Listing(*requests_to_decide(officer, ApprovalStage.HR, SHOWN)),
        failed_messages=failed, stuck_messages=stuck,
        fiscal_year=year, compliance=compliance_totals(year, day),
        jobs=jobs, job_titles={job.id: _job_title(job) for job in jobs.items},
    )


def _job_title(job: BackgroundJob) -> str:
    kind = JOB_KINDS.get(job.kind)
    return kind.title() if kind is not None else _("Background job")


def teaching_panel(teacher: Employee, day: date) -> TeachingPanel:
    """An instructor's or mentor's part: three statements (today's meetings they teach, answers to
    grade when they may grade, fieldwork to review)."""
    may_grade = has_permission(teacher, Permission.ASSESSMENT_GRADE)
    return TeachingPanel(
        meetings=Listing(*meetings_between(*_day_bounds(day), SHOWN, instructor_id=teacher.id)),
        attempts=Listing(*attempts_to_grade_for(teacher, SHOWN)) if may_grade else Listing([], 0),
        reviews=Listing(*submissions_to_review(teacher.id, SHOWN)),
        may_grade=may_grade,
    )


def compose(user: Employee) -> HomePanels:
    """The panels of every role `user` has (everyone has the employee's)."""
    at, day = now(), today()
    return HomePanels(
        employee=employee_panel(user.id, at, day),
        manager=manager_panel(user, day) if has_role(user, MANAGER) else None,
        hr=hr_panel(user, at, day) if has_role(user, RoleName.HR) else None,
        teaching=teaching_panel(user, day)
        if has_role(user, RoleName.INSTRUCTOR) or has_role(user, RoleName.MENTOR) else None,
        at=at,
    )
