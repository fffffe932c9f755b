"""HR's compliance view: mandatory training (assignments) across the prefecture, counted by
department, unit, grade or course (assigned, done, overdue, due within 30 days), the people behind
any count, and the rows of an export.

What is counted: the active assignments of active staff in a fiscal year (`Assignment.fiscal_year`,
the cycle's year), optionally only those due in one half. Each has one state, in this order:

    done      a current completion of its course (not revoked, not expired), on or after the day
              the cycle opened (`Assignment.opens_on`; any when it has none)
    overdue   not done, due before today (as the reminders' weekly overdue notice says)
    due_soon  not done, due today or within DUE_SOON_DAYS
    open      not done, due later

Counting is one statement whatever the number of staff: a GROUP BY over (unit, grade, course,
due bucket) of all the assignments, UNION ALL the same over those done, whose completion test is
an EXISTS in WHERE, so a semi-join the database plans as it sees fit (measured on PostgreSQL with
80,000 assignments in the year among 400,000: the whole prefecture in about 0.7 s, hashing the
current completions once; a department in about 0.15 s through the indexes on units, employees,
assignments and valid completions). A correlated EXISTS per row in the select list was three
times slower there and priced high enough to set off PostgreSQL's JIT compiler. The departments
are rolled up in Python from the unit tree (as app/reports/figures.py does). The people list is
one paginated SELECT (a count and a page), filtered by state with the same EXISTS or NOT EXISTS;
an export streams it. Names of units, grades and courses come from three small reference reads,
so no statement runs per row.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)

from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Course
from app.completion.models import Completion
from app.completion.services import current_completion
from app.core.db import db_session
from app.core.fiscal import FiscalHalf
from app.org.models import Employee, Grade, Unit
from app.web.locale import gettext as _

DUE_SOON_DAYS = 30
STATES = ("done", "overdue", "due_soon", "open")
MEASURES = ("assigned", "done", "overdue", "due_soon")  # the counts shown (open = assigned - the rest)
BREAKDOWNS = ("department", "unit", "grade", "course")


@dataclass(frozen=True)
class Filters:
    """What the view is narrowed to. A unit filter takes the units below it too, unless `unit_only`
    (a row of the by-unit table counts the people of that unit alone, and so does its drill-down)."""

    fiscal_year: int
    half: int | None = None
    department_id: int | None = None
    unit_id: int | None = None
    unit_only: bool = False
    grade_id: int | None = None
    course_id: int | None = None

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments that give this view back (with `changes`), for links."""
        values: dict[str, Any] = {"fy": self.fiscal_year, "half": self.half, "department": self.department_id,
                                  "unit": self.unit_id, "only": 1 if self.unit_only else None,
                                  "grade": self.grade_id, "course": self.course_id}
        values.update(changes)
        return {key: value for key, value in values.items() if value is not None and value != ""}


@dataclass
class Counts:
    assigned: int = 0
    done: int = 0
    overdue: int = 0
    due_soon: int = 0

    def add(self, bucket: str, done: bool, number: int) -> None:
        """`number` assignments due in `bucket` (all of them, or those of them done)."""
        sign = -1 if done else 1  # the done ones are counted among all, and are not overdue or due soon
        if done:
            self.done += number
        else:
            self.assigned += number
        if bucket in ("overdue", "due_soon"):
            setattr(self, bucket, getattr(self, bucket) + sign * number)

    @property
    def done_rate(self) -> float | None:
        return None if not self.assigned else round(100 * self.done / self.assigned, 1)


@dataclass
class BreakdownRow:
    key: int | None  # the unit, grade or course id (None: people without a unit or grade)
    label: str
    counts: Counts = field(default_factory=Counts)
    parent_label: str = ""  # the department of a unit row


@dataclass
class Reference:
    """Names for ids, and what the filters offer: every unit, grade, and course ever assigned."""

    units: dict[int, Unit]
    grades: dict[int, Grade]
    courses: dict[int, Course]

    def department_of(self, unit_id: int | None) -> int | None:
        unit = self.units.get(unit_id) if unit_id is not None else None
        if unit is None:
            return None
        first = unit.path.strip("/").split("/")[0]
        return int(first) if first else unit.id

    def departments(self) -> list[Unit]:
        return sorted((u for u in self.units.values() if u.parent_id is None), key=lambda u: (u.sort_order, u.code))

    def units_in_order(self) -> list[Unit]:
        """Every unit, each department followed by the units below it."""
        order = {u.id: (u.sort_order, u.code) for u in self.units.values()}

        def key(unit: Unit) -> list[tuple[int, str]]:
            return [order.get(int(part), (0, "")) for part in unit.path.strip("/").split("/") if part]

        return sorted(self.units.values(), key=key)

    def unit_label(self, unit_id: int | None, locale: str) -> str:
        unit = self.units.get(unit_id) if unit_id is not None else None
        return "" if unit is None else (unit.name_en or unit.name) if locale == "en" else unit.name

    def grade_label(self, grade_id: int | None, locale: str) -> str:
        grade = self.grades.get(grade_id) if grade_id is not None else None
        return "" if grade is None else grade.name_en if locale == "en" else grade.name

    def course_label(self, course_id: int | None, locale: str) -> str:
        course = self.courses.get(course_id) if course_id is not None else None
        return "" if course is None else course.title(locale)


@dataclass
class ComplianceView:
    filters: Filters
    breakdown: str
    rows: list[BreakdownRow]
    totals: Counts
    reference: Reference
    today: date

    @property
    def due_soon_until(self) -> date:
        return self.today + timedelta(days=DUE_SOON_DAYS)

    def row_args(self, row: BreakdownRow) -> dict[str, Any] | None:
        """The filters of the people behind a row's counts (None: a row no filter can name)."""
        if row.key is None:
            return None
        if self.breakdown == "unit":
            return self.filters.args(unit=row.key, only=1)
        return self.filters.args(**{self.breakdown: row.key})


@dataclass(frozen=True)
class PersonRow:
    """One assignment in the people list."""

    assignment_id: int
    employee_id: int
    employee_number: str
    name: str
    department: str
    unit: str
    grade: str
    course_code: str
    course: str
    due_on: date
    state: str


def load_reference() -> Reference:
    """Three reads: units, grades, and the courses any rule ever assigned (a few dozen)."""
    units = {u.id: u for u in db_session.scalars(select(Unit))}
    grades = {g.id: g for g in db_session.scalars(select(Grade))}
    courses = {c.id: c for c in db_session.scalars(select(Course).where(
        Course.id.in_(select(AssignmentRule.course_id).distinct())).order_by(Course.code))}
    return Reference(units, grades, courses)


def _done(today: date) -> ColumnElement[bool]:
    """A completion that counts for the assignment today (correlated to the enclosing Assignment
    row): current (`current_completion`: not revoked, not expired) and, as `assignment_done` says,
    on or after the day the assignment's cycle opened."""
    return (select(Completion.id)
            .where(Completion.employee_id == Assignment.employee_id, Completion.course_id == Assignment.course_id,
                   current_completion(today),
                   or_(Assignment.opens_on.is_(None), Completion.completed_on >= Assignment.opens_on))
            .exists())


def _due_bucket(today: date) -> ColumnElement[str]:
    """Where an assignment's due date falls: overdue, due_soon or open (whether done or not)."""
    return case((Assignment.due_on < today, "overdue"),
                (Assignment.due_on <= today + timedelta(days=DUE_SOON_DAYS), "due_soon"), else_="open")


def state_column(today: date) -> ColumnElement[str]:
    """The assignment's state (see the module's docstring), as a column (for the rows of a list;
    counting and filtering by state use the EXISTS as a semi-join instead, `_state_clauses`)."""
    return case((_done(today), "done"), else_=_due_bucket(today))


def _state_clauses(state: str, today: date) -> list[ColumnElement[bool]]:
    """WHERE clauses keeping the assignments in `state`: EXISTS (done) or NOT EXISTS and the due date."""
    if state == "done":
        return [_done(today)]
    soon = today + timedelta(days=DUE_SOON_DAYS)
    due = {"overdue": Assignment.due_on < today, "open": Assignment.due_on > soon,
           "due_soon": and_(Assignment.due_on >= today, Assignment.due_on <= soon)}[state]
    return [~_done(today), due]


def _scope(filters: Filters, reference: Reference) -> list[ColumnElement[bool]]:
    """WHERE clauses over Assignment joined to its Employee."""
    clauses: list[ColumnElement[bool]] = [
        Assignment.status == AssignmentStatus.ACTIVE, Employee.is_active.is_(True),
        Assignment.fiscal_year == filters.fiscal_year]
    if filters.half is not None:
        half = FiscalHalf(filters.fiscal_year, filters.half)
        clauses += [Assignment.due_on >= half.starts_on, Assignment.due_on <= half.ends_on]
    for unit_id, below in ((filters.department_id, True), (filters.unit_id, not filters.unit_only)):
        if unit_id is None:
            continue
        unit = reference.units.get(unit_id)
        if unit is None:
            clauses.append(false())  # no such unit: nobody is in it
        elif below:
            clauses.append(Employee.unit_id.in_(select(Unit.id).where(Unit.path.startswith(unit.path))))
        else:
            clauses.append(Employee.unit_id == unit.id)
    if filters.grade_id is not None:
        clauses.append(Employee.grade_id == filters.grade_id)
    if filters.course_id is not None:
        clauses.append(Assignment.course_id == filters.course_id)
    return clauses


def count_statement(filters: Filters, reference: Reference, today: date) -> CompoundSelect[*tuple[Any, ...]]:
    """(unit, grade, course, due bucket, "all" | "done", how many): the one statement behind every
    count of the view. The done ones are counted by a second GROUP BY whose EXISTS is a semi-join
    (PostgreSQL hashes the completions for the whole prefecture, or looks them up by index for a
    department), then taken off their due bucket in Python: done, overdue, due soon."""

    def grouped(what: str, *extra: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
        assignments = (select(Employee.unit_id.label("unit_id"), Employee.grade_id.label("grade_id"),
                              Assignment.course_id.label("course_id"), _due_bucket(today).label("bucket"))
                       .select_from(Assignment).join(Employee, Assignment.employee_id == Employee.id)
                       .where(*_scope(filters, reference), *extra).subquery())
        columns = (assignments.c.unit_id, assignments.c.grade_id, assignments.c.course_id, assignments.c.bucket)
        return select(*columns, literal(what, String).label("what"), func.count()).group_by(*columns)

    return union_all(grouped("all"), grouped("done", _done(today)))


def compliance_view(filters: Filters, breakdown: str, today: date, locale: str,
                    reference: Reference | None = None) -> ComplianceView:
    """The counts of the filtered view, broken down one way, with their totals."""
    reference = reference or load_reference()
    by: dict[int | None, BreakdownRow] = {}
    totals = Counts()
    for unit_id, grade_id, course_id, bucket, what, number in db_session.execute(
            count_statement(filters, reference, today)):
        key = {"department": reference.department_of(unit_id), "unit": unit_id, "grade": grade_id,
               "course": course_id}[breakdown]
        row = by.get(key)
        if row is None:
            row = by[key] = _breakdown_row(reference, breakdown, key, locale)
        row.counts.add(bucket, what == "done", number)
        totals.add(bucket, what == "done", number)
    return ComplianceView(filters, breakdown, _ordered(reference, breakdown, by), totals, reference, today)


def _breakdown_row(reference: Reference, breakdown: str, key: int | None, locale: str) -> BreakdownRow:
    if breakdown in ("department", "unit"):
        parent = reference.unit_label(reference.department_of(key), locale) if breakdown == "unit" else ""
        return BreakdownRow(key, reference.unit_label(key, locale) or "—", parent_label=parent)
    if breakdown == "grade":
        return BreakdownRow(key, reference.grade_label(key, locale) or "—")
    return BreakdownRow(key, reference.course_label(key, locale) or "—")


def _ordered(reference: Reference, breakdown: str, rows: dict[int | None, BreakdownRow]) -> list[BreakdownRow]:
    if breakdown in ("department", "unit"):
        position = {u.id: index for index, u in enumerate(reference.units_in_order())}
        return sorted(rows.values(), key=lambda r: position.get(r.key, len(position)) if r.key is not None
                      else len(position))
    if breakdown == "grade":
        return sorted(rows.values(), key=lambda r: reference.grades[r.key].rank if r.key in reference.grades
                      else 10_000)
    return sorted(rows.values(), key=lambda r: reference.courses[r.key].code if r.key in reference.courses else "~")


def people_statement(filters: Filters, reference: Reference, today: date,
                     state: str | None) -> Select[*tuple[Any, ...]]:
    """The assignments behind a count (all states when `state` is None), earliest due first."""
    state_expression = state_column(today) if state is None else literal(state, String)
    return (select(Assignment.id, Employee.id, Employee.employee_number, Employee.name, Employee.unit_id,
                   Employee.grade_id, Assignment.course_id, Assignment.due_on, state_expression.label("state"))
            .select_from(Assignment).join(Employee, Assignment.employee_id == Employee.id)
            .where(*_scope(filters, reference), *(_state_clauses(state, today) if state is not None else ()))
            .order_by(Assignment.due_on, Employee.employee_number, Assignment.course_id, Assignment.id))


def person_rows(rows: Any, reference: Reference, locale: str) -> Iterator[PersonRow]:
    """Rows of `people_statement` with their names filled in from the reference (no statement)."""
    for assignment_id, employee_id, number, name, unit_id, grade_id, course_id, due_on, state in rows:
        course = reference.courses.get(course_id)
        yield PersonRow(assignment_id, employee_id, number, name,
                        reference.unit_label(reference.department_of(unit_id), locale),
                        reference.unit_label(unit_id, locale), reference.grade_label(grade_id, locale),
                        course.code if course is not None else "", reference.course_label(course_id, locale),
                        due_on, state)


def all_people(filters: Filters, reference: Reference, today: date, state: str | None,
               locale: str) -> Iterator[PersonRow]:
    """Every row of the people list, read in batches (an export of the whole prefecture streams)."""
    stmt = people_statement(filters, reference, today, state).execution_options(yield_per=2000)
    yield from person_rows(db_session.execute(stmt), reference, locale)


# --- words and cells for the pages and exports -------------------------------------------------


def state_labels() -> dict[str, str]:
    return {"assigned": _("Assignments"), "done": _("Completed"), "overdue": _("Overdue"),
            "due_soon": _("Due within 30 days"), "open": _("Not yet due")}


def breakdown_labels() -> dict[str, str]:
    return {"department": _("Department"), "unit": _("Unit"), "grade": _("Grade"), "course": _("Course")}


def summary_header(breakdown: str) -> list[str]:
    labels = state_labels()
    return [breakdown_labels()[breakdown], labels["assigned"], labels["done"], labels["overdue"], labels["due_soon"],
            _("Completion rate (%)")]


def summary_cells(view: ComplianceView) -> Iterator[list[Any]]:
    for row in view.rows:
        label = f"{row.parent_label} / {row.label}" if row.parent_label and row.parent_label != row.label else row.label
        counts = row.counts
        yield [label, counts.assigned, counts.done, counts.overdue, counts.due_soon, counts.done_rate]
    totals = view.totals
    yield [_("Total"), totals.assigned, totals.done, totals.overdue, totals.due_soon, totals.done_rate]


def people_header() -> list[str]:
    return [_("Employee number"), _("Name"), _("Department"), _("Unit"), _("Grade"), _("Course code"), _("Course"),
            _("Due date"), _("Status")]


def people_cells(rows: Iterator[PersonRow]) -> Iterator[list[Any]]:
    labels = state_labels()
    for row in rows:
        yield [row.employee_number, row.name, row.department, row.unit, row.grade, row.course_code, row.course,
               row.due_on, labels[row.state]]
