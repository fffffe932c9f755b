"""Writes to the organisation: staff import (upsert, transfers, deactivation), units, roles."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import select

from app.audit.services import record_event
from app.clock import now
from app.db import db_session
from app.org.models import Employee, Grade, Placement, RoleGrant, RoleName, Unit, UnitKind
from app.org.staff_csv import StaffFileError, StaffRow, read_file

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


def _validate(rows: list[StaffRow], report: ImportReport) -> list[_Validated]:
    units = {u.code: u for u in db_session.scalars(select(Unit))}
    grades: dict[str, Grade] = {}
    for grade in db_session.scalars(select(Grade)):
        grades[grade.code] = grade
        grades[grade.name] = grade
    existing_by_email = {
        e.email.lower(): e.employee_number for e in db_session.execute(
            select(Employee.email, Employee.employee_number)
        )
    }
    seen_numbers: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    heads: dict[str, int] = {}
    numbers_in_file = {row.values.get("employee_number", "") for row in rows}
    valid: list[_Validated] = []

    def issue(row: StaffRow, column: str, message: str) -> None:
        report.issues.append(ImportIssue(row.line, column, message))

    for row in rows:
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
    return valid


def _move(employee: Employee, unit: Unit, grade: Grade, as_of: date) -> None:
    """Close the open placement and open a new one (same-day corrections edit in place)."""
    current = db_session.scalar(
        select(Placement).where(Placement.employee_id == employee.id, Placement.ended_on.is_(None))
    )
    if current is not None and current.started_on >= as_of:
        current.unit_id, current.grade_id = unit.id, grade.id
    else:
        if current is not None:
            current.ended_on = as_of - timedelta(days=1)
        db_session.add(Placement(employee_id=employee.id, unit_id=unit.id, grade_id=grade.id,
                                 started_on=as_of))
    # Set the relationships, not just the ids, so objects already loaded in this session (the
    # follow-up hooks read them before commit) do not keep the old unit and grade.
    employee.unit, employee.grade = unit, grade


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
    of a dry run lists the same changes as the real run.
    """
    report = ImportReport()
    try:
        staff_file = read_file(raw)
    except StaffFileError as error:
        report.issues.extend(ImportIssue(p.line, p.field, p.message) for p in error.problems)
        return report
    rows, report.encoding, report.columns = staff_file.rows, staff_file.encoding, staff_file.labels
    report.rows = len(rows)
    if not rows:
        # A header alone would deactivate everyone: almost certainly the wrong file.
        report.issues.append(ImportIssue(2, "file", _("The file has no staff rows.")))
        return report
    valid = _validate(rows, report)
    if report.issues:
        return report

    employees = {e.employee_number: e for e in db_session.scalars(select(Employee))}
    names_by_id = {e.id: (e.employee_number, e.name) for e in employees.values()}
    previous_unit = {number: e.unit_id for number, e in employees.items()}
    previous_email = {number: e.email for number, e in employees.items()}
    units_by_id = {u.id: u for u in db_session.scalars(select(Unit).order_by(Unit.id))}
    grades_by_id = {g.id: g for g in db_session.scalars(select(Grade))}
    total = len(valid)
    in_file: set[str] = set()
    moved_out: set[str] = set()  # active people whose unit changes
    new_heads: dict[int, _Validated] = {}
    if not dry_run:
        # Free e-mails moving between people before anyone takes a new one.
        for item in valid:
            existing = employees.get(item.number)
            if existing is not None and existing.email.lower() != item.email.lower():
                existing.email = f"{existing.employee_number}@moving.invalid"
        db_session.flush()

    for done, item in enumerate(valid, start=1):
        in_file.add(item.number)
        existing = employees.get(item.number)
        if existing is None:
            report.added.append(Change(item.number, item.name, [item.unit.name, item.grade.name]))
            if not dry_run:
                employee = Employee(employee_number=item.number, name=item.name,
                                    name_kana=item.name_kana, email=item.email, is_active=True)
                db_session.add(employee)
                db_session.flush()
                employees[item.number] = employee
                _move(employee, item.unit, item.grade, as_of)
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
            if previous_email[item.number] != item.email:
                edits.append(f"{previous_email[item.number]} → {item.email}")
            if not existing.is_active:
                report.reactivated.append(Change(item.number, item.name, [item.unit.name, item.grade.name]))
            elif moved:
                report.transferred.append(change)
            if edits:
                report.updated.append(Change(item.number, item.name, edits))
            if existing.is_active and not moved and not edits:
                report.unchanged += 1
            if not dry_run:
                existing.name = item.name
                if item.name_kana:
                    existing.name_kana = item.name_kana
                existing.email = item.email
                if not existing.is_active:
                    existing.is_active = True
                    existing.deactivated_at = None
                    _move(existing, item.unit, item.grade, as_of)
                elif moved:
                    _move(existing, item.unit, item.grade, as_of)
        if item.is_head:
            new_heads[item.unit.id] = item
        if on_progress is not None and (done % 200 == 0 or done == total):
            on_progress(done, total)

    leaving = [
        e for number, e in employees.items()
        if number not in in_file and e.is_active and not e.is_external
    ]
    leaving_ids = {e.id for e in leaving}
    for employee in leaving:
        report.deactivated.append(Change(employee.employee_number, employee.name))
        if not dry_run:
            employee.is_active = False
            employee.deactivated_at = now()
            current = db_session.scalar(select(Placement).where(
                Placement.employee_id == employee.id, Placement.ended_on.is_(None)))
            if current is not None:
                current.ended_on = max(current.started_on, as_of - timedelta(days=1))

    # Unit heads: the file names new ones; those leaving, or moving out of the unit they head, stop.
    for unit in units_by_id.values():
        old_number, old_name = names_by_id.get(unit.head_id, ("", "-")) if unit.head_id else ("", "-")
        head = new_heads.get(unit.id)
        if head is not None:
            if head.number != old_number:
                report.heads.append(Change(head.number, head.name, [f"{unit.name}: {old_name} → {head.name}"]))
                if not dry_run:
                    unit.head_id = employees[head.number].id
        elif unit.head_id is not None and (
            unit.head_id in leaving_ids
            or (old_number in moved_out and previous_unit.get(old_number) == unit.id)
        ):
            report.heads.append(Change(old_number, old_name, [f"{unit.name}: {old_name} → -"]))
            if not dry_run:
                unit.head_id = None

    if not dry_run:
        db_session.flush()
        record_event(actor, "org.staff_imported", "staff_list", None,
                     after=report.counts(), summary=f"as of {as_of.isoformat()}")
        db_session.flush()
        report.applied = True
    return report


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
    if role in employee.roles:
        return
    employee.role_grants.append(RoleGrant(role=role))
    record_event(actor, "auth.role_granted", "employee", employee.id,
                 before={"roles": sorted(r.value for r in employee.roles if r != role)},
                 after={"roles": sorted({*(r.value for r in employee.roles), role.value})})


def revoke_role(actor: Employee | None, employee: Employee, role: RoleName) -> None:
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
