"""`flask org sync-ldap`: the organisation chart and the staff list read from the directory instead
of the units file and the HR system's CSV.

Units (code, name, parent, head) and people (employee number, name, e-mail, grade, unit code) are
read from the directory (app/auth/directory.py) and go through THE SAME check / plan / apply as
`flask org import-units` (app/org/unit_import.py) and the staff CSV import (app/org/services.py),
in one transaction: the units first, then the people, who may be placed in a unit the directory
has just added. Each entry becomes a row, numbered like a line of a file, and every problem names
the entry's DN and the attribute. Any problem anywhere means nothing is applied; a dry run (the
default) prints the plan and writes nothing.

- Units are matched by code (`ou` by default): new ones are added, names changed, and a unit whose
  parent changed moves with everything under it. Its parent is the unit entry above it in the tree
  (ou=K0101,ou=K01,...), or, with UNIT_ATTRIBUTES "parent" set, the unit code that attribute holds.
  Units the directory lacks are left as they are. Without LDAP_UNIT_BASE no unit is read.
- Heads: each unit's head attribute (a DN, `seeAlso` by default, `managedBy` in Active Directory;
  "" reads none) marks that person as the head of their unit; the head must be one of the people
  read, in that unit.
- The units are written first, inside a savepoint, so that the people are planned against them
  (someone placed in a new unit); a dry run, or any problem, rolls the savepoint back before
  anything is announced or recorded; a real run keeps both and the caller commits once.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale

from app.auth.directory import (
    PERSON_ATTRIBUTES,
    UNIT_ATTRIBUTES,
    Directory,
    DirectoryEntry,
    DirectorySettings,
    DirectoryUnavailable,
    normalise_dn,
    parent_dn,
)
from app.auth.services import PasswordSignIn
from app.core.clock import today
from app.core.db import db_session
from app.core.text_safety import find_unsafe
from app.org.cli import bar_progress, print_report
from app.org.models import Employee
from app.org.reference import ensure_grades
from app.org.services import (
    ImportIssue,
    ImportReport,
    KnownPerson,
    StaffImportPlan,
    ValidRow,
    apply_staff_import,
    load_people,
    lock_staff_list,
    plan_staff_changes,
    validate_staff_rows,
)
from app.org.staff_csv import StaffRow
from app.org.unit_import import UnitImportReport, plan_units, units_applied, write_units
from app.web.locale import gettext as _

ProgressCallback = Callable[[int, int], None]
UNIT_KEYS = ("code", "name", "name_en", "parent", "sort_order")  # what app/org/unit_import.py plans


@dataclass
class DirectorySync:
    """The plans of the units (app/org/unit_import.py) and of the staff (app/org/services.py) and,
    for the report, the DN of each row. Every issue, of units and people, is in `plan.report`."""

    plan: StaffImportPlan
    entries: dict[int, str]  # row number -> DN
    units: UnitImportReport = field(default_factory=lambda: UnitImportReport(encoding="ldap"))

    def where(self, line: int) -> str:
        return self.entries.get(line, f"entry {line}")


def sync_directory(people: list[DirectoryEntry], units: list[DirectoryEntry], *, as_of: date, apply: bool,
                   actor: Employee | None = None,
                   person_attributes: dict[str, str] | None = None,
                   unit_attributes: dict[str, str] | None = None,
                   keep: frozenset[str] = frozenset(),
                   on_progress: ProgressCallback | None = None) -> DirectorySync:
    """Plan the units, then the people, with the imports' own steps, and with `apply` (and no issue
    anywhere) apply both in the caller's transaction, which the caller commits; otherwise nothing
    stays written. Takes the staff list's lock first (`lock_staff_list`): a second sync waits, then
    plans from what the first one wrote.

    `keep`: logins (casefolded employee numbers or e-mail addresses, config BREAK_GLASS_LOGINS) who
    stay active though the directory lacks them, so the way in when the directory fails survives."""
    person_attributes = {**PERSON_ATTRIBUTES, **(person_attributes or {})}
    unit_attributes = {**UNIT_ATTRIBUTES, **(unit_attributes or {})}
    report = ImportReport(encoding="ldap", rows=len(people),
                          columns={key: name for key, name in person_attributes.items() if name})
    sync = DirectorySync(StaffImportPlan(report, as_of), {})
    issues = report.issues
    if not people:
        issues.append(ImportIssue(0, "people", _("The directory returned no people.")))
        return sync
    lock_staff_list()

    rows = _person_rows(people, sync, person_attributes)
    first_unit_line = len(people) + 1
    unit_rows = _unit_rows(units, sync, unit_attributes, first_line=first_unit_line)
    _mark_heads(rows, units, sync, unit_attributes, first_line=first_unit_line)
    unit_plan = plan_units(unit_rows, sync.units,
                           keep=[key for key in ("name", "name_en") if not unit_attributes.get(key)])
    issues.extend(ImportIssue(issue.line, _unit_field(issue.field, unit_attributes), issue.message)
                  for issue in sync.units.issues)
    if sync.units.issues:  # the people's units are not known yet: their checks would only add noise
        issues.sort(key=lambda issue: issue.line)
        return sync

    savepoint = db_session.begin_nested()
    try:
        write_units(unit_plan)
        people_known = load_people()
        valid = validate_staff_rows(rows, report, people_known, on_progress)
        if not issues:
            sync.plan = _staff_plan(valid, people_known, report, as_of, keep)
        if apply and not issues:
            if unit_rows:
                units_applied(unit_plan, actor, summary="sync-ldap")
            apply_staff_import(sync.plan, actor)
    except BaseException:
        savepoint.rollback()
        raise
    if issues or not apply:
        savepoint.rollback()  # the units written for the people's plan too
    else:
        savepoint.commit()
    issues.sort(key=lambda issue: issue.line)
    return sync


def _staff_plan(valid: list[ValidRow], people_known: dict[str, KnownPerson], report: ImportReport, as_of: date,
                keep: frozenset[str]) -> StaffImportPlan:
    """The staff plan, the break-glass logins kept."""
    plan = plan_staff_changes(valid, people_known, report, as_of=as_of)
    kept = {p.employee_number for p in plan.leaving
            if p.employee_number.casefold() in keep or p.email.casefold() in keep}
    if kept:
        plan.leaving = [p for p in plan.leaving if p.employee_number not in kept]
        report.deactivated = [c for c in report.deactivated if c.employee_number not in kept]
    return plan


def _person_rows(people: list[DirectoryEntry], sync: DirectorySync, attributes: dict[str, str]) -> list[StaffRow]:
    """Each person entry as a staff row (lines 1, 2, ...): unsafe text and a second entry with the
    same employee number are issues naming the DN."""
    issues = sync.plan.report.issues
    rows: list[StaffRow] = []
    first_by_number: dict[str, str] = {}
    for line, entry in enumerate(people, start=1):
        sync.entries[line] = entry.dn
        values = {key: value for key, value in entry.values.items() if attributes.get(key)}
        for key, value in values.items():
            problem = find_unsafe(value)
            if problem is not None:
                issues.append(ImportIssue(line, key, problem.describe()))
        number = values.get("employee_number", "")
        if number and number in first_by_number:  # named by DN here, not by the row number the CSV check gives
            issues.append(ImportIssue(line, "employee_number", _("%(number)s appears twice (also in %(other)s)",
                                                                 number=number, other=first_by_number[number])))
            continue
        if number:
            first_by_number[number] = entry.dn
        rows.append(StaffRow(line=line, values={**values, "is_head": ""}))
    return rows


def _unit_field(key: str, attributes: dict[str, str]) -> str:
    """What a unit's issue names: the directory's attribute (the DN itself for a parent read from
    the tree)."""
    if key == "parent" and not attributes.get("parent"):
        return "dn"
    return attributes.get(key) or key


def _unit_rows(units: list[DirectoryEntry], sync: DirectorySync, attributes: dict[str, str], *,
               first_line: int) -> list[StaffRow]:
    """Each unit entry as a row of the units planner (lines after the people's): code, name,
    English name, order and the parent's code, from the attribute configured or from the tree.
    Unsafe text and a second entry with the same code are issues naming the DN."""
    issues = sync.plan.report.issues
    code_by_dn = {normalise_dn(unit.dn): unit.values.get("code", "") for unit in units}
    rows: list[StaffRow] = []
    first_by_code: dict[str, str] = {}
    for line, unit in enumerate(units, start=first_line):
        sync.entries[line] = unit.dn
        values = {key: unit.values.get(key, "") for key in UNIT_KEYS if attributes.get(key)}
        for key, value in values.items():
            problem = find_unsafe(value)
            if problem is not None:
                issues.append(ImportIssue(line, _unit_field(key, attributes), problem.describe()))
        if not attributes.get("parent"):
            values["parent"] = _parent_in_tree(unit.dn, code_by_dn)
        code = values.get("code", "")
        if code and code in first_by_code:
            issues.append(ImportIssue(line, _unit_field("code", attributes), _(
                "%(number)s appears twice (also in %(other)s)", number=code, other=first_by_code[code])))
            continue
        if code:
            first_by_code[code] = unit.dn
        rows.append(StaffRow(line=line, values=values))
    return rows


def _parent_in_tree(dn: str, code_by_dn: dict[str, str]) -> str:
    """The code of the nearest unit read above this entry ("" when none: a unit at the top)."""
    above = parent_dn(dn)
    while above:
        code = code_by_dn.get(normalise_dn(above))
        if code is not None:
            return code
        above = parent_dn(above)
    return ""


def _mark_heads(rows: list[StaffRow], units: list[DirectoryEntry], sync: DirectorySync,
                attributes: dict[str, str], *, first_line: int) -> None:
    """Each unit's head attribute marks that person's row as the head of their unit. A head who is
    not a person read (or not in that unit) is an issue."""
    issues = sync.plan.report.issues
    rows_by_dn = {normalise_dn(sync.entries[row.line]): row for row in rows}
    head_attribute = attributes.get("head") or ""
    if not head_attribute:
        return
    for line, unit in enumerate(units, start=first_line):
        code, head = unit.values.get("code", ""), unit.values.get("head", "")
        if not code or not head:
            continue
        row = rows_by_dn.get(normalise_dn(head))
        if row is None:
            issues.append(ImportIssue(line, head_attribute, _("%(value)s is not one of the people read from the "
                                                              "directory", value=head)))
        elif row.values.get("unit") != code:
            issues.append(ImportIssue(line, head_attribute, _("the head %(value)s belongs to unit %(other)s",
                                                              value=head, other=row.values.get("unit") or "-")))
        else:
            row.values["is_head"] = "yes"


# --- the command ---------------------------------------------------------------------------------------


@click.command("sync-ldap")
@click.option("--apply", "apply_", is_flag=True, help="Apply the changes (default: a dry run that applies nothing).")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date the transfers take effect (default: today in Asia/Tokyo).")
@with_appcontext
def sync_ldap_cmd(apply_: bool, as_of: object) -> None:
    """Read units, heads and people from the directory (LDAP_* settings) and plan them like the units
    file and the staff CSV: a dry run prints the changes; --apply applies them all in one
    transaction, or nothing on any problem."""
    effective: date = as_of.date() if as_of is not None else today()  # type: ignore[attr-defined]
    config = current_app.config
    settings = DirectorySettings.from_config(config)
    try:
        directory = Directory(settings)
        click.echo("Reading the directory…", err=True)
        people = directory.read_people(lambda count: click.echo(f"  {count} people read", err=True))
        units = directory.read_units()
    except DirectoryUnavailable as error:
        click.echo(f"The directory cannot be used ({error}); nothing was applied.", err=True)
        raise SystemExit(1) from None
    ensure_grades()
    with click.progressbar(length=max(len(people), 1), label="Checking", file=sys.stderr) as bar:
        progress = bar_progress(bar)
        with force_locale("en"):  # no request, no locale: the command speaks English throughout
            sync = sync_directory(people, units, as_of=effective, apply=apply_,
                                  person_attributes=dict(settings.person_attributes or {}),
                                  unit_attributes=dict(settings.unit_attributes or {}),
                                  keep=PasswordSignIn.from_config(config).break_glass,
                                  on_progress=progress)
    report = sync.plan.report
    if report.issues or not apply_:
        db_session.rollback()
    else:
        db_session.commit()
    print_report(report, dry_run=not apply_, where=sync.where, units=sync.units if settings.unit_base else None)
    if report.issues:
        raise SystemExit(1)
