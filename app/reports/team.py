"""The manager's team page: everyone in the subtree they head, each assignment with its status
and due date (overdue first), completion per assignment, pending approvals and upcoming sessions.

A fixed number of statements whatever the team's size; filters can only narrow the subtree."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from app.catalog.models import Assignment, AssignmentStatus, Course
from app.completion.models import Completion
from app.completion.services import assignment_done, current_completion
from app.core.clock import now, today
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState, is_active_place
from app.org.models import Employee, Unit
from app.scheduling.models import SessionStatus, TrainingSession

STATUSES = ("overdue", "not_enrolled", "enrolled", "completed")
LIST_LIMIT = 30  # pending requests and upcoming sessions shown; a department has hundreds (the count says so)


@dataclass
class AssignmentRow:
    employee: Employee
    course: Course
    due_on: date
    status: str  # overdue | not_enrolled | enrolled | completed
    enrolment_state: str | None = None


@dataclass
class CourseSummary:
    course: Course
    assigned: int = 0
    completed: int = 0

    @property
    def rate(self) -> int | None:
        return None if not self.assigned else round(100 * self.completed / self.assigned)


@dataclass
class TeamOverview:
    units: list[Unit]
    rows: list[AssignmentRow] = field(default_factory=list)
    people: int = 0
    summaries: list[CourseSummary] = field(default_factory=list)
    pending: list[Enrolment] = field(default_factory=list)  # the first LIST_LIMIT
    pending_total: int = 0
    upcoming: list[Enrolment] = field(default_factory=list)  # the first LIST_LIMIT
    upcoming_total: int = 0


def subtree_units(roots: list[Unit]) -> list[Unit]:
    if not roots:
        return []
    return list(db_session.scalars(select(Unit).where(or_(*(Unit.path.startswith(r.path) for r in roots)))
                                   .order_by(Unit.path)))


def team_overview(manager: Employee, roots: list[Unit], *, unit_id: int | None = None, grade_id: int | None = None,
                  status: str = "", shown_roots: list[Unit] | None = None) -> TeamOverview:
    """`roots`: the subtrees the viewer may narrow to (the unit filter offers their units).
    `shown_roots`: what is shown before a unit is chosen, `roots` unless given (HR may choose any
    unit of the prefecture but is shown only the units they head, often none, until they choose)."""
    units = subtree_units(roots)
    overview = TeamOverview(units=units)
    allowed = {u.id: u for u in units}
    default_paths = tuple(r.path for r in (roots if shown_roots is None else shown_roots))
    scope = [u.id for u in units if u.path.startswith(default_paths)]
    if unit_id is not None:
        chosen = allowed.get(unit_id)
        scope = [u.id for u in units if chosen is not None and u.path.startswith(chosen.path)]
    if not scope:
        return overview
    people_filter = [Employee.unit_id.in_(scope), Employee.is_active.is_(True), Employee.id != manager.id]
    if grade_id is not None:
        people_filter.append(Employee.grade_id == grade_id)
    people_ids = select(Employee.id).where(*people_filter)
    assignments = list(db_session.scalars(
        select(Assignment).where(Assignment.employee_id.in_(people_ids), Assignment.status == AssignmentStatus.ACTIVE)
        .options(joinedload(Assignment.employee), joinedload(Assignment.course))).unique())
    overview.people = len({a.employee_id for a in assignments})
    assigned_courses = sorted({a.course_id for a in assignments})  # only these pairs matter, not all their history
    # The latest current completion of each pair (not revoked, not expired): a cycle is done by one
    # on or after the day it opened (the same rule as the compliance view and the reminders).
    latest = {(e, c): d for e, c, d in db_session.execute(
        select(Completion.employee_id, Completion.course_id, func.max(Completion.completed_on)).where(
            Completion.employee_id.in_(people_ids), Completion.course_id.in_(assigned_courses),
            current_completion()).group_by(Completion.employee_id, Completion.course_id))}
    live = {(e, c): s for e, c, s in db_session.execute(select(Enrolment.employee_id, Enrolment.course_id,
                                                               Enrolment.state)
                                                        .where(Enrolment.employee_id.in_(people_ids),
                                                               Enrolment.course_id.in_(assigned_courses),
                                                               is_active_place())).all()}
    current = today()
    summaries: dict[int, CourseSummary] = {}
    for assignment in assignments:
        key = (assignment.employee_id, assignment.course_id)
        summary = summaries.setdefault(assignment.course_id, CourseSummary(assignment.course))
        summary.assigned += 1
        if assignment_done(assignment.opens_on, latest.get(key)):
            row_status = "completed"
            summary.completed += 1
        elif assignment.due_on < current:
            row_status = "overdue"
        elif key in live:
            row_status = "enrolled"
        else:
            row_status = "not_enrolled"
        if status and row_status != status:
            continue
        state = live.get(key)
        overview.rows.append(AssignmentRow(assignment.employee, assignment.course, assignment.due_on, row_status,
                                           state.value if state is not None else None))
    order = {s: i for i, s in enumerate(STATUSES)}
    overview.rows.sort(key=lambda r: (order[r.status], r.due_on, r.employee.employee_number))
    overview.summaries = sorted(summaries.values(), key=lambda s: s.course.code)
    pending_ids, overview.pending_total = _first_with_total(
        select(Enrolment.id).where(Enrolment.employee_id.in_(people_ids), Enrolment.state == EnrolmentState.PENDING)
        .order_by(Enrolment.requested_at, Enrolment.id))
    soon = (TrainingSession.status == SessionStatus.SCHEDULED, TrainingSession.starts_at >= now(),
            TrainingSession.starts_at < now() + timedelta(days=30))
    upcoming_ids, overview.upcoming_total = _first_with_total(
        select(Enrolment.id).join(TrainingSession, Enrolment.session_id == TrainingSession.id)
        # From the month's few sessions to their places, not from years of the team's places.
        .where(Enrolment.session_id.in_(select(TrainingSession.id).where(*soon)), *soon,
               Enrolment.employee_id.in_(people_ids), Enrolment.state == EnrolmentState.CONFIRMED)
        .order_by(TrainingSession.starts_at, Enrolment.id))
    shown = _enrolments(pending_ids + upcoming_ids)
    overview.pending = [shown[i] for i in pending_ids]
    overview.upcoming = [shown[i] for i in upcoming_ids]
    return overview


def _first_with_total(statement: Select[int]) -> tuple[list[int], int]:
    """The ids of the first LIST_LIMIT rows, and how many there are in all, in one statement (a
    window count over the ids alone: what the page shows is loaded for those few afterwards)."""
    rows = db_session.execute(statement.add_columns(func.count().over().label("total")).limit(LIST_LIMIT)).all()
    return [row[0] for row in rows], (rows[0].total if rows else 0)


def _enrolments(ids: list[int]) -> dict[int, Enrolment]:
    if not ids:
        return {}
    return {e.id: e for e in db_session.scalars(select(Enrolment).where(Enrolment.id.in_(ids)).options(
        joinedload(Enrolment.employee), joinedload(Enrolment.course), joinedload(Enrolment.training_session))).unique()}
