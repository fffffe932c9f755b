"""`flask org sync-ldap`: the staff list read from the directory instead of the HR system's CSV.

The people (employee number, name, e-mail, grade, unit code) and the units' heads are read from
the directory (app/auth/directory.py) and go through THE SAME validate / plan / apply as the CSV
import (app/org/services.py): each entry becomes a row, numbered like a line of the file, and every
problem names the entry's DN and the attribute. Any problem means nothing is applied; a dry run
(the default) prints the plan and writes nothing.

Units are read for their heads: each unit's head attribute (a DN, `seeAlso` by default,
`managedBy` in Active Directory) marks that person as the head of their unit. A unit code the
directory has and Manabi does not is refused (create it first: `flask org import-units`); unit names
and parents are not changed by the sync.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy import select

from app.auth.directory import (
    PERSON_ATTRIBUTES,
    UNIT_ATTRIBUTES,
    Directory,
    DirectoryEntry,
    DirectorySettings,
    DirectoryUnavailable,
    normalise_dn,
)
from app.auth.services import PasswordSignIn
from app.core.clock import today
from app.core.db import db_session
from app.core.text_safety import find_unsafe
from app.org.cli import bar_progress, print_report
from app.org.models import Unit
from app.org.reference import ensure_grades
from app.org.services import (
    ImportIssue,
    ImportReport,
    StaffImportPlan,
    apply_staff_import,
    load_people,
    plan_staff_changes,
    validate_staff_rows,
)
from app.org.staff_csv import StaffRow
from app.web.locale import gettext as _

ProgressCallback = Callable[[int, int], None]


@dataclass
class DirectorySync:
    """A plan of the staff import (app/org/services.py) and, for its report, the DN of each row."""

    plan: StaffImportPlan
    entries: dict[int, str]  # row number -> DN

    def where(self, line: int) -> str:
        return self.entries.get(line, f"entry {line}")


def plan_directory_sync(people: list[DirectoryEntry], units: list[DirectoryEntry], *, as_of: date,
                        person_attributes: dict[str, str] | None = None,
                        unit_attributes: dict[str, str] | None = None,
                        keep: frozenset[str] = frozenset(),
                        on_progress: ProgressCallback | None = None) -> DirectorySync:
    """Turn the entries into staff rows and plan them with the CSV import's own steps; writes nothing.

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

    rows: list[StaffRow] = []
    first_by_number: dict[str, str] = {}
    for line, entry in enumerate(people, start=1):
        sync.entries[line] = entry.dn
        values = {key: value for key, value in entry.values.items() if person_attributes.get(key)}
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

    _mark_heads(rows, units, sync, unit_attributes, first_line=len(people) + 1)
    people_known = load_people()
    valid = validate_staff_rows(rows, report, people_known, on_progress)
    if issues:
        issues.sort(key=lambda issue: issue.line)
        return sync
    plan = plan_staff_changes(valid, people_known, report, as_of=as_of)
    kept = {p.employee_number for p in plan.leaving
            if p.employee_number.casefold() in keep or p.email.casefold() in keep}
    if kept:
        plan.leaving = [p for p in plan.leaving if p.employee_number not in kept]
        report.deactivated = [c for c in report.deactivated if c.employee_number not in kept]
    sync.plan = plan
    return sync


def _mark_heads(rows: list[StaffRow], units: list[DirectoryEntry], sync: DirectorySync,
                attributes: dict[str, str], *, first_line: int) -> None:
    """Each unit's head attribute marks that person's row as the head of their unit. A unit Manabi
    does not know, or a head who is not a person read (or not in that unit), is an issue."""
    issues = sync.plan.report.issues
    known_codes = set(db_session.scalars(select(Unit.code)))
    rows_by_dn = {normalise_dn(sync.entries[row.line]): row for row in rows}
    code_attribute, head_attribute = attributes["code"] or "code", attributes["head"] or "head"
    for line, unit in enumerate(units, start=first_line):
        sync.entries[line] = unit.dn
        code = unit.values.get("code", "")
        if not code:
            issues.append(ImportIssue(line, code_attribute, _("is empty")))
            continue
        if code not in known_codes:
            issues.append(ImportIssue(line, code_attribute, _("unknown division %(value)s", value=code)))
            continue
        head = unit.values.get("head", "")
        if not head:
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
    """Read people, units and heads from the directory (LDAP_* settings) and plan them like a staff
    CSV import: a dry run prints the changes; --apply applies them all, or nothing on any problem."""
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
            sync = plan_directory_sync(people, units, as_of=effective,
                                       person_attributes=dict(settings.person_attributes or {}),
                                       unit_attributes=dict(settings.unit_attributes or {}),
                                       keep=PasswordSignIn.from_config(config).break_glass,
                                       on_progress=progress)
            report = sync.plan.report
            if not report.issues and apply_:
                apply_staff_import(sync.plan, None)
    if report.issues or not apply_:
        db_session.rollback()
    else:
        db_session.commit()
    print_report(report, dry_run=not apply_, where=sync.where)
    if report.issues:
        raise SystemExit(1)
