"""Writes to the organisation: staff import (upsert, transfers, deactivation), units, roles."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import insert, select, update

from app.audit.services import record_event
from app.core.clock import now
from app.core.db import db_session
from app.core.events import emit
from app.org.events import EmployeesDeactivated, StaffImported
from app.org.models import Employee, Grade, Placement, RoleGrant, RoleName, Unit, UnitKind
from app.org.staff_csv import StaffFileError, StaffRow, read_file
from app.permissions import PermissionDenied, can_grant_role, can_revoke_role

ProgressCallback = Callable[[int, int], None]
HEAD_MARKS = {"1", "true", "yes", "y", "○", "◯", "〇", "所属長", "head"}


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


@dataclass
class _Validated:
    row: StaffRow
    number: str
    name: str
    name_kana: str
    email: str
    grade: Grade
    unit: Unit
    is_head: bool


@dataclass(frozen=True)
class _Person:
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


def _people() -> dict[str, _Person]:
    rows = db_session.execute(select(
        Employee.id, Employee.employee_number, Employee.name, Employee.name_kana, Employee.email,
        Employee.unit_id, Employee.grade_id, Employee.is_active, Employee.is_external))
    return {row.employee_number: _Person(*row) for row in rows}


def _validate(rows: list[StaffRow], report: ImportReport, people: dict[str, _Person],
              on_progress: ProgressCallback | None = None) -> list[_Validated]:
    units = {u.code: u for u in db_session.scalars(select(Unit))}
    grades: dict[str, Grade] = {}
    for grade in db_session.scalars(select(Grade)):
        grades[grade.code] = grade
        grades[grade.name] = grade
    existing_by_email = {person.email.lower(): number for number, person in people.items()}
    seen_numbers: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    heads: dict[str, int] = {}
    numbers_in_file = {row.values.get("employee_number", "") for row in rows}
    valid: list[_Validated] = []
    total = len(rows)

    def issue(row: StaffRow, column: str, message: str) -> None:
        report.issues.append(ImportIssue(row.line, column, message))

    for done, row in enumerate(rows, start=1):
        v = row.values
        before = len(report.issues)
        number = v.get("employee_number", "")
        if not number:
            issue(row, "employee_number", _("is empty"))
        elif len(number) > 32:
            issue(row, "employee_number", _("is longer than 32 characters"))
        elif number in seen_numbers:
            issue(row, "employee_number",
                  _("%(number)s appears twice (also on line %(other)s)", number=number,
                    other=seen_numbers[number]))
        else:
            seen_numbers[number] = row.line
        name = v.get("name", "")
        if not name:
            issue(row, "name", _("is empty"))
        elif len(name) > 100:
            issue(row, "name", _("is longer than 100 characters"))
        if len(v.get("name_kana", "")) > 100:
            issue(row, "name_kana", _("is longer than 100 characters"))
        email = v.get("email", "")
        if not email:
            issue(row, "email", _("is empty"))
        else:
            try:
                email = validate_email(email, check_deliverability=False).normalized
            except EmailNotValidError:
                issue(row, "email", _("%(value)s is not a valid e-mail address", value=email))
            else:
                key = email.lower()
                if key in seen_emails:
                    issue(row, "email", _("%(value)s appears twice (also on line %(other)s)",
                                          value=email, other=seen_emails[key]))
                else:
                    seen_emails[key] = row.line
                owner = existing_by_email.get(key)
                if owner is not None and owner != number and owner not in numbers_in_file:
                    issue(row, "email", _("%(value)s already belongs to employee %(owner)s",
                                          value=email, owner=owner))
        grade = grades.get(v.get("grade", ""))
        if not v.get("grade", ""):
            issue(row, "grade", _("is empty"))
        elif grade is None:
            issue(row, "grade", _("unknown grade %(value)s", value=v.get("grade", "")))
        unit = units.get(v.get("unit", ""))
        if not v.get("unit", ""):
            issue(row, "unit", _("is empty"))
        elif unit is None:
            issue(row, "unit", _("unknown division %(value)s", value=v.get("unit", "")))
        elif not unit.is_active:
            issue(row, "unit", _("division %(value)s is closed", value=unit.code))
        head_mark = v.get("is_head", "").strip().lower()
        is_head = head_mark in HEAD_MARKS
        if head_mark and not is_head and head_mark not in {"0", "false", "no", "n", "-"}:
            issue(row, "is_head", _("%(value)s is not a yes/no value", value=v.get("is_head", "")))
        if is_head and unit is not None:
            if unit.code in heads:
                issue(row, "is_head", _("division %(unit)s already has a head on line %(other)s",
                                        unit=unit.code, other=heads[unit.code]))
            else:
                heads[unit.code] = row.line
        if len(report.issues) == before and grade is not None and unit is not None:
            valid.append(_Validated(row, number, name, v.get("name_kana", ""), email, grade, unit, is_head))
        # Checking the rows (e-mail syntax above all) is most of an import's time.
        if on_progress is not None and (done % 200 == 0 or done == total):
            on_progress(done, total)
    return valid


@dataclass
class StaffImportPlan:
    """What an import will write, worked out by reading alone (`plan_staff_import`).

    `apply_staff_import` writes it in a few bulk statements. The plan is only true of the data it
    was read from: apply it in the same transaction, or check `queries.staff_fingerprint()` is
    unchanged first (the background job does, under the write lock)."""

    report: ImportReport
    as_of: date
    added: list[_Validated] = field(default_factory=list)
    # Existing people in the file whose row changes (details, place, or coming back), with the row.
    changed: list[tuple[_Person, _Validated]] = field(default_factory=list)
    leaving: list[_Person] = field(default_factory=list)
    head_changes: dict[int, str | None] = field(default_factory=dict)  # unit id -> head's number or none


def plan_staff_import(raw: bytes, *, as_of: date, on_progress: ProgressCallback | None = None) -> StaffImportPlan:
    """Read the file and the organisation and work out every change; writes nothing.

    `on_progress(done, total)` is called every 200 rows checked. The plan's report lists the same
    changes a real run makes; any issue means nothing may be applied.
    """
    report = ImportReport()
    plan = StaffImportPlan(report, as_of)
    try:
        staff_file = read_file(raw)
    except StaffFileError as error:
        report.issues.extend(ImportIssue(p.line, p.field, p.message) for p in error.problems)
        return plan
    rows, report.encoding, report.columns = staff_file.rows, staff_file.encoding, staff_file.labels
    report.rows = len(rows)
    if not rows:
        # A header alone would deactivate everyone: almost certainly the wrong file.
        report.issues.append(ImportIssue(2, "file", _("The file has no staff rows.")))
        return plan
    people = _people()
    valid = _validate(rows, report, people, on_progress)
    if report.issues:
        return plan

    names_by_id = {p.id: (p.employee_number, p.name) for p in people.values()}
    units_by_id = {u.id: u for u in db_session.scalars(select(Unit).order_by(Unit.id))}
    grades_by_id = {g.id: g for g in db_session.scalars(select(Grade))}
    in_file: set[str] = set()
    moved_out: set[str] = set()  # active people whose unit changes
    new_heads: dict[int, _Validated] = {}
    for item in valid:
        in_file.add(item.number)
        existing = people.get(item.number)
        if existing is None:
            report.added.append(Change(item.number, item.name, [item.unit.name, item.grade.name]))
            plan.added.append(item)
        else:
            change = Change(item.number, item.name)
            moved = existing.unit_id != item.unit.id or existing.grade_id != item.grade.id
            if existing.unit_id != item.unit.id:
                if existing.is_active:
                    moved_out.add(item.number)
                old = units_by_id.get(existing.unit_id) if existing.unit_id else None
                change.details.append(f"{old.name if old else '-'} → {item.unit.name}")
            if existing.grade_id != item.grade.id:
                old_grade = grades_by_id.get(existing.grade_id) if existing.grade_id else None
                change.details.append(f"{old_grade.name if old_grade else '-'} → {item.grade.name}")
            edits = []
            if existing.name != item.name:
                edits.append(f"{existing.name} → {item.name}")
            if existing.name_kana != item.name_kana and item.name_kana:
                edits.append(f"{existing.name_kana} → {item.name_kana}")
            if existing.email != item.email:
                edits.append(f"{existing.email} → {item.email}")
            if not existing.is_active:
                report.reactivated.append(Change(item.number, item.name, [item.unit.name, item.grade.name]))
            elif moved:
                report.transferred.append(change)
            if edits:
                report.updated.append(Change(item.number, item.name, edits))
            if existing.is_active and not moved and not edits:
                report.unchanged += 1
            else:
                plan.changed.append((existing, item))
        if item.is_head:
            new_heads[item.unit.id] = item

    plan.leaving = [p for number, p in people.items() if number not in in_file and p.is_active and not p.is_external]
    leaving_ids = {p.id for p in plan.leaving}
    for person in plan.leaving:
        report.deactivated.append(Change(person.employee_number, person.name))

    # Unit heads: the file names new ones; those leaving, or moving out of the unit they head, stop.
    for unit in units_by_id.values():
        old_number, old_name = names_by_id.get(unit.head_id, ("", "-")) if unit.head_id else ("", "-")
        head = new_heads.get(unit.id)
        if head is not None:
            if head.number != old_number:
                report.heads.append(Change(head.number, head.name, [f"{unit.name}: {old_name} → {head.name}"]))
                plan.head_changes[unit.id] = head.number
        elif unit.head_id is not None and (
            unit.head_id in leaving_ids
            or (old_number in moved_out and people[old_number].unit_id == unit.id)
        ):
            report.heads.append(Change(old_number, old_name, [f"{unit.name}: {old_name} → -"]))
            plan.head_changes[unit.id] = None
    return plan


def _open_placements() -> dict[int, tuple[int, date]]:
    """Each person's open placement: employee id -> (placement id, started on)."""
    found: dict[int, tuple[int, date]] = {}
    for placement_id, employee_id, started_on in db_session.execute(
        select(Placement.id, Placement.employee_id, Placement.started_on)
        .where(Placement.ended_on.is_(None)).order_by(Placement.started_on, Placement.id)
    ):
        found[employee_id] = (placement_id, started_on)  # the latest, should there be two
    return found


def apply_staff_import(plan: StaffImportPlan, actor: Employee | None) -> ImportReport:
    """Write a plan (see StaffImportPlan) in a few bulk statements and record the audit event.

    Transfers and promotions close the old placement and open a new one dated `as_of` (a second
    move on the same day edits the new placement in place); reactivated people get a new one too.
    Flushes; the caller commits. Objects of this session that the import changed are expired,
    so what follows the StaffImported event reads the new units, grades and heads.
    """
    report, as_of = plan.report, plan.as_of
    if report.issues:
        raise ValueError("a plan with issues cannot be applied")
    day_before = as_of - timedelta(days=1)
    at = now()
    placements = _open_placements() if plan.changed or plan.leaving else {}
    new_placements: list[dict[str, object]] = []
    placement_edits: list[dict[str, object]] = []  # same-day corrections
    placement_ends: list[dict[str, object]] = []

    def move(employee_id: int, unit_id: int, grade_id: int) -> None:
        current = placements.get(employee_id)
        if current is not None and current[1] >= as_of:
            placement_edits.append({"id": current[0], "unit_id": unit_id, "grade_id": grade_id})
            return
        if current is not None:
            placement_ends.append({"id": current[0], "ended_on": day_before})
        new_placements.append({"employee_id": employee_id, "unit_id": unit_id, "grade_id": grade_id,
                               "started_on": as_of})

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
            move(person.id, item.unit.id, item.grade.id)
        elif person.unit_id != item.unit.id or person.grade_id != item.grade.id:
            move(person.id, item.unit.id, item.grade.id)
        updates.append(values)
    if updates:
        db_session.execute(update(Employee), updates)

    if plan.added:
        # A plain executemany, then the ids in one read: with RETURNING the rows go as huge
        # multi-VALUES statements that psycopg parses slowly (twice the time at 100,000 people).
        db_session.execute(insert(Employee), [
            {"employee_number": item.number, "name": item.name, "name_kana": item.name_kana, "email": item.email,
             "unit_id": item.unit.id, "grade_id": item.grade.id, "is_active": True, "is_external": False}
            for item in plan.added])
        new_ids = {number: employee_id for number, employee_id in db_session.execute(
            select(Employee.employee_number, Employee.id))}
        new_placements.extend({"employee_id": new_ids[item.number], "unit_id": item.unit.id,
                               "grade_id": item.grade.id, "started_on": as_of} for item in plan.added)

    if plan.leaving:
        db_session.execute(update(Employee), [{"id": p.id, "is_active": False, "deactivated_at": at}
                                              for p in plan.leaving])
        for person in plan.leaving:
            current = placements.get(person.id)
            if current is not None:
                placement_ends.append({"id": current[0], "ended_on": max(current[1], day_before)})
    for batch in (placement_ends, placement_edits):
        if batch:
            db_session.execute(update(Placement), batch)
    if new_placements:
        db_session.execute(insert(Placement), new_placements)

    if plan.head_changes:
        numbers = [number for number in plan.head_changes.values() if number is not None]
        ids = {number: employee_id for number, employee_id in db_session.execute(
            select(Employee.employee_number, Employee.id).where(Employee.employee_number.in_(numbers)))}
        db_session.execute(update(Unit), [
            {"id": unit_id, "head_id": ids[number] if number is not None else None}
            for unit_id, number in sorted(plan.head_changes.items())])
    # The bulk statements above bypass objects already loaded in this session (the actor, the
    # units of the plan, a test's people): expire those so they are read again.
    for instance in list(db_session.identity_map.values()):
        if isinstance(instance, (Employee, Placement, Unit)):
            db_session.expire(instance)
    if plan.leaving:
        emit(EmployeesDeactivated(tuple(sorted(p.id for p in plan.leaving))))  # their sessions end (app/auth)
    record_event(actor, "org.staff_imported", "staff_list", None,
                 after=report.counts(), summary=f"as of {as_of.isoformat()}")
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
    """Upsert staff from the HR CSV. Any invalid row means nothing is applied.

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
    before = unit.head_id
    unit.head_id = employee.id if employee else None
    record_event(actor, "org.unit_head_set", "unit", unit.id,
                 before={"head_id": before}, after={"head_id": unit.head_id})
