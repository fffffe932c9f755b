"""Reads of what is owed: a person's open assignments and a manager's team overdue, each one
statement whatever the number of assignments (for the home page)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, case, func, or_, select

from app.catalog.models import Assignment, AssignmentStatus, Course
from app.completion.models import Completion
from app.completion.services import current_completion
from app.core.db import db_session
from app.org.models import Employee, Unit
from app.permissions import managed_unit_filter


def assignment_done_clause(day: date) -> ColumnElement[bool]:
    """A completion that answers the enclosing Assignment row on `day` (correlated): current (not
    revoked, not expired) and, as `assignment_done` says, on or after the day its cycle opened."""
    return (select(Completion.id)
            .where(Completion.employee_id == Assignment.employee_id, Completion.course_id == Assignment.course_id,
                   current_completion(day),
                   or_(Assignment.opens_on.is_(None), Completion.completed_on >= Assignment.opens_on))
            .exists())


def done_assignment_ids(employee_id: int, day: date) -> set[int]:
    """The person's assignments answered on `day` by a current completion of this cycle: an expired
    certificate or one from before the cycle opened does not count (one statement)."""
    return set(db_session.scalars(select(Assignment.id).where(Assignment.employee_id == employee_id,
                                                              assignment_done_clause(day))))


@dataclass(frozen=True)
class OpenAssignment:
    assignment: Assignment
    course: Course
    days_overdue: int  # 0 when not yet due


def open_assignments_for(employee_id: int, day: date, limit: int) -> tuple[list[OpenAssignment], int, int]:
    """The person's active assignments not yet done, earliest due first (the overdue lead): the first
    `limit` with their courses, how many are open in all and how many of them are overdue (one
    statement: the totals are window aggregates over the open ones)."""
    overdue = func.sum(case((Assignment.due_on < day, 1), else_=0)).over()
    rows = db_session.execute(
        select(Assignment, Course, func.count().over().label("total"), overdue.label("overdue"))
        .join(Course, Assignment.course_id == Course.id)
        .where(Assignment.employee_id == employee_id, Assignment.status == AssignmentStatus.ACTIVE,
               ~assignment_done_clause(day))
        .order_by(Assignment.due_on, Assignment.id).limit(limit)).all()
    if not rows:
        return [], 0, 0
    items = [OpenAssignment(row.Assignment, row.Course, max(0, (day - row.Assignment.due_on).days)) for row in rows]
    return items, rows[0].total, int(rows[0].overdue or 0)


@dataclass(frozen=True)
class OverduePerson:
    employee_id: int
    name: str
    unit_id: int | None
    oldest_due_on: date
    overdue_assignments: int
    days_overdue: int


def team_overdue(manager: Employee, day: date, limit: int) -> tuple[list[OverduePerson], int, int]:
    """In the subtrees `manager` heads (`permissions.managed_unit_filter`; not themselves): the people
    with an assignment overdue and not done, longest overdue first (the first `limit`), how many
    people that is and how many overdue assignments they hold between them (one statement)."""
    managed_units = select(Unit.id).where(managed_unit_filter(manager))
    per_person = func.count(Assignment.id)
    rows = db_session.execute(
        select(Employee.id, Employee.name, Employee.unit_id, func.min(Assignment.due_on).label("oldest"),
               per_person.label("assignments"), func.count().over().label("people"),
               func.sum(per_person).over().label("assignments_total"))
        .select_from(Assignment).join(Employee, Assignment.employee_id == Employee.id)
        .where(Employee.unit_id.in_(managed_units), Employee.is_active.is_(True), Employee.id != manager.id,
               Assignment.status == AssignmentStatus.ACTIVE, Assignment.due_on < day, ~assignment_done_clause(day))
        .group_by(Employee.id, Employee.name, Employee.unit_id)
        .order_by(func.min(Assignment.due_on), Employee.id).limit(limit)).all()
    if not rows:
        return [], 0, 0
    people = [OverduePerson(row.id, row.name, row.unit_id, row.oldest, row.assignments, (day - row.oldest).days)
              for row in rows]
    return people, rows[0].people, int(rows[0].assignments_total or 0)
