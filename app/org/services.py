"""Writes to the organisation: staff import (upsert, transfers, deactivation), units, roles."""
from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select, text, update

from app.audit.services import record_event
from app.core.clock import now
from app.core.db import db_session
from app.core.events import emit
from app.org.events import ApproversChanged, EmployeesDeactivated, StaffImported
from app.org.models import Employee, Grade, Placement, RoleGrant, RoleName, Unit, UnitKind
from app.org.staff_csv import StaffFileError, StaffRow, read_file
from app.permissions import PermissionDenied, can_grant_role, can_revoke_role
from app.web.locale import gettext as _

ProgressCallback = Callable[[int, int], None]
HEAD_MARKS = {"1", "true", "yes", "y", "○", "◯", "〇", "所属長", "head"}
NOT_HEAD_MARKS = {"0", "false", "no", "n", "-"}


@dataclass(frozen=True)
class ImportIssue:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return _("line %(line)s, %(field)s: %(message)s", line=self.line, field=self.field,
                 message=self.message)


@dataclass
class Change:
    employee_number: str
    name: str
    details: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    encoding: str = ""
    rows: int = 0
    issues: list[ImportIssue] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    transferred: list[Change] = field(default_factory=list)
    updated: list[Change] = field(default_factory=list)
    reactivated: list[Change] = field(default_factory=list)
    deactivated: list[Change] = field(default_factory=list)
    heads: list[Change] = field(default_factory=list)
    unchanged: int = 0
    applied: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # key -> header as written in the file

    def column_label(self, key: str) -> str:
        return self.columns.get(key, key)

    @property
    def ok(self) -> bool:
        return not self.issues

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "added": len(self.added),
            "transferred": len(self.transferred),
            "updated": len(self.updated),
            "reactivated": len(self.reactivated),
            "deactivated": len(self.deactivated),
            "heads": len(self.heads),
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class ValidRow:
    """A row that passed every check: its values cleaned, its grade and division found."""

    row: StaffRow
    number: str
    name: str
    name_kana: str
    email: str
    grade: Grade
    unit: Unit
    is_head: bool


@dataclass(frozen=True)
class KnownPerson:
    """An employee as the import compares them: plain columns, not ORM objects (100,000 people
    load as tuples in a fraction of a second, as objects with their roles in many seconds)."""

    id: int
    employee_number: str
    name: str
    name_kana: str
    email: str
    unit_id: int | None
    grade_id: int | None
    is_active: bool
    is_external: bool


def load_people() -> dict[str, KnownPerson]:
    """Everyone on the staff list today (active or not, outside mentors too), by employee number."""
    rows = db_session.execute(select(
        Employee.id, Employee.employee_number, Employee.name, Employee.name_kana, Employee.email,
        Employee.unit_id, Employee.grade_id, Employee.is_active, Employee.is_external))
    return {row.employee_number: KnownPerson(*row) for row in rows}


# --- step 1: read ----------------------------------------------------------------------------


def read_staff_upload(raw: bytes, report: ImportReport) -> list[StaffRow]:
    """Read: decode the upload (UTF-8 with or without a BOM, else Shift_JIS/CP932), map its header
    and parse the CSV rows (app/org/staff_csv.py).

    Records the encoding, the columns as written and the number of rows in `report`. A file that
    cannot be read becomes issues on field "file" or the missing column, and no rows are returned;
    a header without rows is an issue too (it would deactivate everyone).
    """
    try:
        staff_file = read_file(raw)
    except StaffFileError as error:
        report.issues.extend(ImportIssue(p.line, p.field, p.message) for p in error.problems)
        return []
    report.encoding, report.columns, report.rows = staff_file.encoding, staff_file.labels, len(staff_file.rows)
    if not staff_file.rows:
        report.issues.append(ImportIssue(2, "file", _("The file has no staff rows.")))
    return staff_file.rows


# --- step 2: validate ------------------------------------------------------------------------


@dataclass
class _RowChecker:
    """Checks rows in file order against the organisation and the rows before them.

    Each check appends an ImportIssue naming the row's line and the field to `issues`."""

    units: dict[str, Unit]  # by code
    grades: dict[str, Grade]  # by code and by name
    owners_by_email: dict[str, str]  # lower-case e-mail -> employee number, of people today
    numbers_in_file: set[str]
    issues: list[ImportIssue]
    seen_numbers: dict[str, int] = field(default_factory=dict)  # -> line
    seen_emails: dict[str, int] = field(default_factory=dict)  # lower-case -> line
    heads: dict[str, int] = field(default_factory=dict)  # unit code -> line
    # Names another row in a message: None says "line 3" (a file); the API says "people[3]".
    where: Callable[[int], str] | None = None

    def check(self, row: StaffRow) -> ValidRow | None:
        """The row checked field by field (every problem reported); None when it has any issue."""
        before = len(self.issues)
        number = self._employee_number(row)
        name = self._name(row)
        name_kana = self._name_kana(row)
        email = self._email(row, number)
        grade = self._grade(row)
        unit = self._unit(row)
        is_head = self._is_head(row, unit)
        if len(self.issues) > before or grade is None or unit is None:
            return None
        return ValidRow(row, number, name, name_kana, email, grade, unit, is_head)

    def _issue(self, row: StaffRow, column: str, message: str) -> None:
        self.issues.append(ImportIssue(row.line, column, message))

    def _employee_number(self, row: StaffRow) -> str:
        number = row.values.get("employee_number", "")
        if not number:
            self._issue(row, "employee_number", _("is empty"))
        elif len(number) > 32:
            self._issue(row, "employee_number", _("is longer than 32 characters"))
        elif number in self.seen_numbers and self.where is not None:
            self._issue(row, "employee_number", _("%(number)s appears twice (also in %(other)s)",
                                                  number=number, other=self.where(self.seen_numbers[number])))
        elif number in self.seen_numbers:
            self._issue(row, "employee_number", _("%(number)s appears twice (also on line %(other)s)",
                                                  number=number, other=self.seen_numbers[number]))
        else:
            self.seen_numbers[number] = row.line
        return number

    def _name(self, row: StaffRow) -> str:
        name = row.values.get("name", "")
        if not name:
            self._issue(row, "name", _("is empty"))
        elif len(name) > 100:
            self._issue(row, "name", _("is longer than 100 characters"))
        return name

    def _name_kana(self, row: StaffRow) -> str:
        name_kana = row.values.get("name_kana", "")
        if len(name_kana) > 100:
            self._issue(row, "name_kana", _("is longer than 100 characters"))
        return name_kana

    def _email(self, row: StaffRow, number: str) -> str:
        """The address normalised (as given when it is empty or invalid); unique in the file, and
        not anyone else's unless that person is in the file too (addresses may move between people)."""
        email = row.values.get("email", "")
        if not email:
            self._issue(row, "email", _("is empty"))
            return email
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            self._issue(row, "email", _("%(value)s is not a valid e-mail address", value=email))
            return email
        key = email.lower()
        if key in self.seen_emails and self.where is not None:
            self._issue(row, "email", _("%(value)s appears twice (also in %(other)s)",
                                        value=email, other=self.where(self.seen_emails[key])))
        elif key in self.seen_emails:
            self._issue(row, "email", _("%(value)s appears twice (also on line %(other)s)",
                                        value=email, other=self.seen_emails[key]))
        else:
            self.seen_emails[key] = row.line
        owner = self.owners_by_email.get(key)
        if owner is not None and owner != number and owner not in self.numbers_in_file:
            self._issue(row, "email", _("%(value)s already belongs to employee %(owner)s", value=email, owner=owner))
        return email

    def _grade(self, row: StaffRow) -> Grade | None:
        value = row.values.get("grade", "")
        grade = self.grades.get(value)
        if not value:
            self._issue(row, "grade", _("is empty"))
        elif grade is None:
            self._issue(row, "grade", _("unknown grade %(value)s", value=value))
        return grade

    def _unit(self, row: StaffRow) -> Unit | None:
        """The open division the row names (None if it is missing or unknown)."""
        value = row.values.get("unit", "")
        unit = self.units.get(value)
        if not value:
            self._issue(row, "unit", _("is empty"))
        elif unit is None:
            self._issue(row, "unit", _("unknown division %(value)s", value=value))
        elif not unit.is_active:
            self._issue(row, "unit", _("division %(value)s is closed", value=unit.code))
        return unit

    def _is_head(self, row: StaffRow, unit: Unit | None) -> bool:
        """Whether the row marks its division's head; one head per division in the file."""
        value = row.values.get("is_head", "")
        mark = value.strip().lower()
        is_head = mark in HEAD_MARKS
        if mark and not is_head and mark not in NOT_HEAD_MARKS:
            self._issue(row, "is_head", _("%(value)s is not a yes/no value", value=value))
        if is_head and unit is not None:
            if unit.code in self.heads and self.where is not None:
                self._issue(row, "is_head", _("division %(unit)s already has a head in %(other)s",
                                              unit=unit.code, other=self.where(self.heads[unit.code])))
            elif unit.code in self.heads:
                self._issue(row, "is_head", _("division %(unit)s already has a head on line %(other)s",
                                              unit=unit.code, other=self.heads[unit.code]))
            else:
                self.heads[unit.code] = row.line
        return is_head


def validate_staff_rows(rows: list[StaffRow], report: ImportReport, people: dict[str, KnownPerson],
                        on_progress: ProgressCallback | None = None, *,
                        where: Callable[[int], str] | None = None) -> list[ValidRow]:
    """Validate: check each row's fields against the organisation (`people` is `load_people()`).

    Every problem of every row is appended to `report.issues`, each naming the row's line in the
    file and the field. Returns the rows without issues. `on_progress(done, total)` is called every
    200 rows and after the last: checking (e-mail syntax above all) is most of an import's time.
    `where(line)` names another row in a message ("also in people[3]"); by default "also on line 3".
    """
    grades: dict[str, Grade] = {}
    for grade in db_session.scalars(select(Grade)):
        grades[grade.code] = grade
        grades[grade.name] = grade
    checker = _RowChecker(
        units={u.code: u for u in db_session.scalars(select(Unit))},
        grades=grades,
        owners_by_email={person.email.lower(): number for number, person in people.items()},
        numbers_in_file={row.values.get("employee_number", "") for row in rows},
        issues=report.issues,
        where=where,
    )
    valid: list[ValidRow] = []
    total = len(rows)
    for done, row in enumerate(rows, start=1):
        checked = checker.check(row)
        if checked is not None:
            valid.append(checked)
        if on_progress is not None and (done % 200 == 0 or done == total):
            on_progress(done, total)
    return valid


# --- step 3: plan ----------------------------------------------------------------------------


@dataclass
class StaffImportPlan:
    """What an import will write, worked out by reading alone (`plan_staff_import`).

    `apply_staff_import` writes it in a few bulk statements. The plan is only true of the data it
    was read from: apply it in the same transaction, or check `queries.staff_fingerprint()` is
    unchanged first (the background job does, under the write lock)."""

    report: ImportReport
    as_of: date
    added: list[ValidRow] = field(default_factory=list)
    # Existing people in the file whose row changes (details, place, or coming back), with the row.
    changed: list[tuple[KnownPerson, ValidRow]] = field(default_factory=list)
    leaving: list[KnownPerson] = field(default_factory=list)
    head_changes: dict[int, str | None] = field(default_factory=dict)  # unit id -> head's number or none


def _place_change(person: KnownPerson, item: ValidRow, units_by_id: dict[int, Unit],
                  grades_by_id: dict[int, Grade]) -> list[str]:
    """A transfer or promotion as the report shows it: "old → new" for the division and the grade."""
    details = []
    if person.unit_id != item.unit.id:
        old_unit = units_by_id.get(person.unit_id) if person.unit_id else None
        details.append(f"{old_unit.name if old_unit else '-'} → {item.unit.name}")
    if person.grade_id != item.grade.id:
        old_grade = grades_by_id.get(person.grade_id) if person.grade_id else None
        details.append(f"{old_grade.name if old_grade else '-'} → {item.grade.name}")
    return details


def _detail_edits(person: KnownPerson, item: ValidRow) -> list[str]:
    """Name, kana and e-mail changes, "old → new" (an empty kana in the file keeps the old one)."""
    edits = []
    if person.name != item.name:
        edits.append(f"{person.name} → {item.name}")
    if person.name_kana != item.name_kana and item.name_kana:
        edits.append(f"{person.name_kana} → {item.name_kana}")
    if person.email != item.email:
        edits.append(f"{person.email} → {item.email}")
    return edits


def _plan_person(plan: StaffImportPlan, person: KnownPerson, item: ValidRow, units_by_id: dict[int, Unit],
                 grades_by_id: dict[int, Grade]) -> None:
    """Someone already on the list: coming back, transferred or promoted, details edited, or unchanged."""
    report = plan.report
    moved = person.unit_id != item.unit.id or person.grade_id != item.grade.id
    edits = _detail_edits(person, item)
    if not person.is_active:
        report.reactivated.append(Change(item.number, item.name, [item.unit.name, item.grade.name]))
    elif moved:
        details = _place_change(person, item, units_by_id, grades_by_id)
        report.transferred.append(Change(item.number, item.name, details))
    if edits:
        report.updated.append(Change(item.number, item.name, edits))
    if person.is_active and not moved and not edits:
        report.unchanged += 1
    else:
        plan.changed.append((person, item))


def _head_stops(unit: Unit, head_number: str, leaving_ids: set[int], moved_out: set[str],
                people: dict[str, KnownPerson]) -> bool:
    """Whether the unit's current head stops heading it: they leave, or move out of the unit."""
    if unit.head_id is None:
        return False
    return unit.head_id in leaving_ids or (head_number in moved_out and people[head_number].unit_id == unit.id)


def _plan_heads(plan: StaffImportPlan, valid: list[ValidRow], people: dict[str, KnownPerson],
                units_by_id: dict[int, Unit]) -> None:
    """Unit heads: the file names new ones; those leaving, or moving out of the unit they head, stop."""
    names_by_id = {p.id: (p.employee_number, p.name) for p in people.values()}
    new_heads = {item.unit.id: item for item in valid if item.is_head}
    leaving_ids = {p.id for p in plan.leaving}
    moved_out = {person.employee_number for person, item in plan.changed  # active people whose unit changes
                 if person.is_active and person.unit_id != item.unit.id}
    for unit in units_by_id.values():
        old_number, old_name = names_by_id.get(unit.head_id, ("", "-")) if unit.head_id else ("", "-")
        head = new_heads.get(unit.id)
        if head is not None:
            if head.number != old_number:
                plan.report.heads.append(Change(head.number, head.name, [f"{unit.name}: {old_name} → {head.name}"]))
                plan.head_changes[unit.id] = head.number
        elif _head_stops(unit, old_number, leaving_ids, moved_out, people):
            plan.report.heads.append(Change(old_number, old_name, [f"{unit.name}: {old_name} → -"]))
            plan.head_changes[unit.id] = None


def _plan_leavers(plan: StaffImportPlan, valid: list[ValidRow], people: dict[str, KnownPerson]) -> None:
    """Active staff missing from the file leave (outside mentors never do)."""
    in_file = {item.number for item in valid}
    plan.leaving = [p for number, p in people.items() if number not in in_file and p.is_active and not p.is_external]
    plan.report.deactivated.extend(Change(p.employee_number, p.name) for p in plan.leaving)


def plan_staff_changes(valid: list[ValidRow], people: dict[str, KnownPerson], report: ImportReport, *,
                       as_of: date, deactivate_missing: bool = True) -> StaffImportPlan:
    """Plan: compare the valid rows with `people` (`load_people()`) and work out every change.

    Newcomers are added; people whose division or grade changes move (transferred), details
    are updated, people back in the file are reactivated; active staff missing from the file
    leave (outside mentors never do); heads change as the file and the leavers say. Each change
    is listed in `report` too. Reads the units and grades; writes nothing.
    `deactivate_missing=False` plans only the rows given (a partial update: nobody leaves).
    """
    plan = StaffImportPlan(report, as_of)
    units_by_id = {u.id: u for u in db_session.scalars(select(Unit).order_by(Unit.id))}
    grades_by_id = {g.id: g for g in db_session.scalars(select(Grade))}
    for item in valid:
        person = people.get(item.number)
        if person is None:
            report.added.append(Change(item.number, item.name, [item.unit.name, item.grade.name]))
            plan.added.append(item)
        else:
            _plan_person(plan, person, item, units_by_id, grades_by_id)
    if deactivate_missing:
        _plan_leavers(plan, valid, people)
    _plan_heads(plan, valid, people, units_by_id)
    return plan


def plan_staff_import(raw: bytes, *, as_of: date, on_progress: ProgressCallback | None = None) -> StaffImportPlan:
    """Read, validate and plan: work out every change of the file; writes nothing.

    `on_progress(done, total)` is called every 200 rows checked. The plan's report lists the same
    changes a real run makes; any issue means nothing may be applied (the plan is then empty).
    """
    report = ImportReport()
    rows = read_staff_upload(raw, report)
    if report.issues:
        return StaffImportPlan(report, as_of)
    people = load_people()
    valid = validate_staff_rows(rows, report, people, on_progress)
    if report.issues:
        return StaffImportPlan(report, as_of)
    return plan_staff_changes(valid, people, report, as_of=as_of)


# --- step 4: apply ---------------------------------------------------------------------------

STAFF_LOCK_KEY = 0x4D414E4142490001  # "MANABI" + 1: the advisory lock of the staff list (PostgreSQL)


def lock_staff_list() -> None:
    """Take the staff list's lock until the transaction ends, BEFORE reading what a plan is made
    from (`load_people()`): a second import waits, then plans from what the first one wrote.

    PostgreSQL: a transaction-level advisory lock (`pg_advisory_xact_lock`). SQLite: nothing more to
    do, every writing transaction holds the database's one write lock from its first statement
    (app/core/db.py, BEGIN IMMEDIATE)."""
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STAFF_LOCK_KEY})


def _open_placements(employee_id: int | None = None) -> dict[int, tuple[int, date]]:
    """Each person's open placement (or one person's): employee id -> (placement id, started on)."""
    found: dict[int, tuple[int, date]] = {}
    statement = (select(Placement.id, Placement.employee_id, Placement.started_on)
                 .where(Placement.ended_on.is_(None)).order_by(Placement.started_on, Placement.id))
    if employee_id is not None:
        statement = statement.where(Placement.employee_id == employee_id)
    for placement_id, person_id, started_on in db_session.execute(statement):
        found[person_id] = (placement_id, started_on)  # the latest, should there be two
    return found


@dataclass
class _PlacementWrites:
    """The placement rows an import writes, gathered to go in three bulk statements."""

    as_of: date
    current: dict[int, tuple[int, date]]  # `_open_placements()`
    opened: list[dict[str, object]] = field(default_factory=list)
    edited: list[dict[str, object]] = field(default_factory=list)  # same-day corrections
    ended: list[dict[str, object]] = field(default_factory=list)

    def move(self, employee_id: int, unit_id: int, grade_id: int) -> None:
        """Close the open placement the day before `as_of` and open one on it; a placement opened
        on `as_of` already (a second move that day) is edited in place instead."""
        current = self.current.get(employee_id)
        if current is not None and current[1] >= self.as_of:
            self.edited.append({"id": current[0], "unit_id": unit_id, "grade_id": grade_id})
            return
        if current is not None:
            self.ended.append({"id": current[0], "ended_on": self.as_of - timedelta(days=1)})
        self.open(employee_id, unit_id, grade_id)

    def open(self, employee_id: int, unit_id: int, grade_id: int) -> None:
        self.opened.append({"employee_id": employee_id, "unit_id": unit_id, "grade_id": grade_id,
                            "started_on": self.as_of})

    def end(self, employee_id: int) -> None:
        """Close a leaver's open placement the day before `as_of` (or the day it began, if later)."""
        current = self.current.get(employee_id)
        if current is not None:
            self.ended.append({"id": current[0], "ended_on": max(current[1], self.as_of - timedelta(days=1))})

    def write(self) -> None:
        for batch in (self.ended, self.edited):
            if batch:
                db_session.execute(update(Placement), batch)
        if self.opened:
            db_session.execute(insert(Placement), self.opened)


def _update_people(plan: StaffImportPlan, placements: _PlacementWrites) -> None:
    """Write the changed people's rows; those who move or come back get a new placement."""
    # Free e-mails moving between people before anyone takes a new one.
    freed = [{"id": person.id, "email": f"{person.employee_number}@moving.invalid"}
             for person, item in plan.changed if person.email.lower() != item.email.lower()]
    if freed:
        db_session.execute(update(Employee), freed)
    updates: list[dict[str, object]] = []
    for person, item in plan.changed:
        values: dict[str, object] = {
            "id": person.id, "name": item.name, "name_kana": item.name_kana or person.name_kana,
            "email": item.email, "unit_id": item.unit.id, "grade_id": item.grade.id,
        }
        if not person.is_active:
            values.update(is_active=True, deactivated_at=None)
        if not person.is_active or person.unit_id != item.unit.id or person.grade_id != item.grade.id:
            placements.move(person.id, item.unit.id, item.grade.id)
        updates.append(values)
    if updates:
        db_session.execute(update(Employee), updates)


def _insert_newcomers(plan: StaffImportPlan, placements: _PlacementWrites) -> None:
    """Insert the newcomers, each with a placement opened on `as_of`."""
    if not plan.added:
        return
    # A plain executemany, then the ids in one read: with RETURNING the rows go as huge
    # multi-VALUES statements that psycopg parses slowly (twice the time at 100,000 people).
    db_session.execute(insert(Employee), [
        {"employee_number": item.number, "name": item.name, "name_kana": item.name_kana, "email": item.email,
         "unit_id": item.unit.id, "grade_id": item.grade.id, "is_active": True, "is_external": False}
        for item in plan.added])
    new_ids = dict(db_session.execute(select(Employee.employee_number, Employee.id)).all())
    for item in plan.added:
        placements.open(new_ids[item.number], item.unit.id, item.grade.id)


def _deactivate_leavers(plan: StaffImportPlan, placements: _PlacementWrites) -> None:
    """Deactivate the leavers (never delete) and close their placements."""
    if not plan.leaving:
        return
    at = now()
    db_session.execute(update(Employee), [{"id": p.id, "is_active": False, "deactivated_at": at}
                                          for p in plan.leaving])
    for person in plan.leaving:
        placements.end(person.id)


def _set_heads(plan: StaffImportPlan) -> None:
    """Set each changed unit's head (by employee number, newcomers included) or clear it."""
    if not plan.head_changes:
        return
    numbers = [number for number in plan.head_changes.values() if number is not None]
    ids = dict(db_session.execute(
        select(Employee.employee_number, Employee.id).where(Employee.employee_number.in_(numbers))).all())
    db_session.execute(update(Unit), [
        {"id": unit_id, "head_id": ids[number] if number is not None else None}
        for unit_id, number in sorted(plan.head_changes.items())])


def _announce_new_heads(plan: StaffImportPlan, actor: Employee | None) -> None:
    """Whoever moved unit, and everyone under a unit whose head changed, may report to a new head:
    their pending work follows (ApproversChanged), in the import's transaction."""
    moved = [person.id for person, item in plan.changed if person.is_active and person.unit_id != item.unit.id]
    paths = list(db_session.scalars(select(Unit.path).where(Unit.id.in_(list(plan.head_changes))))) \
        if plan.head_changes else []
    if moved or paths:
        announce_approvers_changed(actor, moved, paths, "staff_import")


def _expire_bulk_written() -> None:
    """The bulk statements bypass objects already loaded in this session (the actor, the units of
    the plan, a test's people): expire those so they are read again."""
    for instance in list(db_session.identity_map.values()):
        if isinstance(instance, (Employee, Placement, Unit)):
            db_session.expire(instance)


def apply_staff_import(plan: StaffImportPlan, actor: Employee | None, *, source: str = "") -> ImportReport:
    """Apply: write a plan (see StaffImportPlan) in a few bulk statements and record the audit event
    (its summary says "as of <date>", then `source` if given: who sent it, e.g. a system account).

    Transfers and promotions close the old placement and open a new one dated `as_of` (a second
    move on the same day edits the new placement in place); reactivated people get a new one too.
    Emits EmployeesDeactivated (for the leavers) and StaffImported. Flushes; the caller commits.
    Objects of this session that the import changed are expired, so what follows the
    StaffImported event reads the new units, grades and heads.
    """
    report, as_of = plan.report, plan.as_of
    if report.issues:
        raise ValueError("a plan with issues cannot be applied")
    placements = _PlacementWrites(as_of, _open_placements() if plan.changed or plan.leaving else {})
    _update_people(plan, placements)
    _insert_newcomers(plan, placements)
    _deactivate_leavers(plan, placements)
    placements.write()
    _set_heads(plan)
    _expire_bulk_written()
    _announce_new_heads(plan, actor)
    if plan.leaving:
        emit(EmployeesDeactivated(tuple(sorted(p.id for p in plan.leaving))))  # their sessions end (app/auth)
    record_event(actor, "org.staff_imported", "staff_list", None,
                 after=report.counts(), summary=f"as of {as_of.isoformat()}" + (f"; {source}" if source else ""))
    emit(StaffImported(as_of))  # what people owe follows the new organisation (app/catalog)
    db_session.flush()
    report.applied = True
    return report


def import_staff(
    raw: bytes,
    actor: Employee | None,
    *,
    as_of: date,
    dry_run: bool,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Upsert staff from the HR CSV: read, validate, plan, then (unless a dry run) apply.
    Any invalid row means nothing is applied.

    Transfers and promotions close the old placement and open a new one dated `as_of`; active
    staff missing from the file are deactivated (never deleted); outside mentors are left alone.
    A head who leaves or is transferred out of the unit they head stops heading it. The report
    of a dry run lists the same changes as the real run. Plans and applies in the caller's
    transaction (the background job splits the two: app/org/jobs.py).
    """
    plan = plan_staff_import(raw, as_of=as_of, on_progress=on_progress)
    if dry_run or plan.report.issues:
        return plan.report
    return apply_staff_import(plan, actor)


# --- units and roles -------------------------------------------------------------------------


class OrgChangeError(Exception):
    """Why a transfer or a change of head cannot be made, fit to show the user."""


def create_unit(code: str, name: str, kind: UnitKind, parent: Unit | None, *,
                name_en: str | None = None, sort_order: int = 0) -> Unit:
    unit = Unit(code=code, name=name, name_en=name_en, kind=kind,
                parent_id=parent.id if parent else None, path="/", sort_order=sort_order)
    db_session.add(unit)
    db_session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    return unit


def grant_role(actor: Employee | None, employee: Employee, role: RoleName) -> None:
    """Give someone a role. `actor` None is the system (the demo loader, a server command)."""
    if actor is not None and not can_grant_role(actor, employee, role):
        raise PermissionDenied(_("Only an administrator can grant roles, and never on their own account."))
    if role in employee.roles:
        return
    employee.role_grants.append(RoleGrant(role=role))
    record_event(actor, "auth.role_granted", "employee", employee.id,
                 before={"roles": sorted(r.value for r in employee.roles if r != role)},
                 after={"roles": sorted({*(r.value for r in employee.roles), role.value})})


def revoke_role(actor: Employee | None, employee: Employee, role: RoleName) -> None:
    """Take a role away. `actor` None is the system (the demo loader, a server command)."""
    if actor is not None and not can_revoke_role(actor, employee, role):
        raise PermissionDenied(_("Only an administrator can remove roles, and never on their own account."))
    grant = next((g for g in employee.role_grants if g.role == role), None)
    if grant is None:
        return
    before = sorted(r.value for r in employee.roles)
    employee.role_grants.remove(grant)
    record_event(actor, "auth.role_revoked", "employee", employee.id,
                 before={"roles": before}, after={"roles": sorted(r.value for r in employee.roles)})


def set_unit_head(actor: Employee | None, unit: Unit, employee: Employee | None) -> None:
    """Make `employee` the head of `unit` (None: nobody). The pending work of the people whose
    head this changes moves to their new head in the same transaction (ApproversChanged)."""
    before = unit.head_id
    after = employee.id if employee else None
    if before == after:
        return
    if employee is not None and not employee.is_active:
        raise OrgChangeError(_("%(name)s is not an active employee.", name=employee.name))
    unit.head_id = after
    db_session.flush()
    record_event(actor, "org.unit_head_set", "unit", unit.id,
                 before={"head_id": before}, after={"head_id": unit.head_id})
    # The old and the new head's own requests may change hands too, wherever they belong.
    people = tuple(sorted(i for i in (before, after) if i is not None))
    announce_approvers_changed(actor, people, (unit.path,), "head_changed")


def transfer_employee(actor: Employee | None, employee: Employee, unit: Unit, *, as_of: date) -> None:
    """Move someone to another unit (異動) from `as_of`: their open placement ends the day before
    and a new one opens (a second move on the same day edits that one), as a staff import does.
    A head who leaves the unit they head stops heading it. Their pending work, and that of the
    people whose head this changes, moves to the new heads in the same transaction."""
    if not employee.is_active:
        raise OrgChangeError(_("%(name)s is not an active employee.", name=employee.name))
    if not unit.is_active:
        raise OrgChangeError(_("division %(value)s is closed", value=unit.code))
    before = employee.unit_id
    if before == unit.id:
        return
    grade_id = employee.grade_id
    if grade_id is None:
        raise OrgChangeError(_("%(name)s has no grade; set it with the staff list first.", name=employee.name))
    placements = _PlacementWrites(as_of, _open_placements(employee.id))
    placements.move(employee.id, unit.id, grade_id)
    placements.write()
    employee.unit_id = unit.id
    stopped: list[Unit] = list(db_session.scalars(select(Unit).where(Unit.head_id == employee.id,
                                                                     Unit.id == before)))
    for headed in stopped:
        headed.head_id = None
        record_event(actor, "org.unit_head_set", "unit", headed.id,
                     before={"head_id": employee.id}, after={"head_id": None}, summary="transferred out")
    db_session.flush()
    _expire_bulk_written()
    record_event(actor, "org.employee_transferred", "employee", employee.id,
                 before={"unit_id": before}, after={"unit_id": unit.id}, summary=f"as of {as_of.isoformat()}")
    announce_approvers_changed(actor, (employee.id,), tuple(u.path for u in stopped), "transfer")


def announce_approvers_changed(actor: Employee | None, employee_ids: Iterable[int], unit_paths: Iterable[str],
                               reason: str) -> str:
    """Tell later domains that these people (and everyone under these units) may have a new head;
    returns the key naming this change."""
    change_key = f"{reason}:{now():%Y%m%d%H%M%S}:{secrets.token_hex(4)}"
    emit(ApproversChanged(tuple(sorted(set(employee_ids))), tuple(sorted(set(unit_paths))),
                          actor.id if actor is not None else None, reason, change_key))
    return change_key
