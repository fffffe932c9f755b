"""The organisation chart from a file: `flask org import-units units.csv [--dry-run]`.

A new installation has no units, and staff rows name their unit by code, so the chart comes first.
The file has the same shape rules as the staff CSV (UTF-8 or Shift_JIS, English or Japanese
headers, one-line values: app/org/staff_csv.py), one unit per row:
code (所属コード), name (所属名), name_en (英語名, optional), parent (上位所属コード, empty for a
部局 at the top), sort_order (表示順, optional: the file's order otherwise).

Units are matched by code: new codes are added, changed names and orders updated, a changed parent
moves the unit with everything under it. Units missing from the file are left as they are (a file
may list one department). Any problem (a row naming its line and column) applies nothing.

The planner takes rows from any source, each a line number and values by key (`plan_units`): the
file's lines here, the directory's entries in `flask org sync-ldap` (app/auth/directory_sync.py),
which plans and applies units with the same steps before the people, in one transaction.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from app.audit.services import record_event
from app.core.db import db_session
from app.org.models import Employee, Unit, UnitKind
from app.org.services import ImportIssue, announce_approvers_changed, create_unit, lock_staff_list
from app.org.staff_csv import StaffFileError, StaffRow, read_file
from app.web.locale import gettext as _

UNIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "所属コード"),
    "name": ("name", "所属名"),
    "name_en": ("name_en", "英語名", "所属名（英語）"),
    "parent": ("parent", "上位所属コード"),
    "sort_order": ("sort_order", "表示順"),
}
REQUIRED_UNIT_COLUMNS = ("code", "name", "parent")
MAX_CODE, MAX_NAME = 32, 200


@dataclass(frozen=True)
class UnitRow:
    line: int
    code: str
    name: str
    name_en: str | None
    parent: str | None
    sort_order: int | None  # None: keep a known unit's order; a new one follows the file's order
    position: int


@dataclass
class UnitImportReport:
    encoding: str = ""
    issues: list[ImportIssue] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # "D110 人事課"
    updated: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    unchanged: int = 0
    applied: bool = False
    columns: dict[str, str] = field(default_factory=dict)

    def column_label(self, key: str) -> str:
        return self.columns.get(key, key)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "updated": len(self.updated), "moved": len(self.moved),
                "unchanged": self.unchanged}


@dataclass
class UnitImportPlan:
    """What `apply_units` will write, worked out by reading alone (`plan_units`): true of the data
    it was read from, so apply it in the same transaction."""

    report: UnitImportReport
    rows: list[UnitRow] = field(default_factory=list)
    existing: dict[str, Unit] = field(default_factory=dict)  # by code, as read
    moved: list[str] = field(default_factory=list)  # codes of the known units that change parent


def import_units(raw: bytes, actor: Employee | None, *, dry_run: bool) -> UnitImportReport:
    """Read, check and (unless a dry run or any problem) apply the units file in the caller's
    transaction. The report of a dry run lists the same changes as the real run."""
    report = UnitImportReport()
    try:
        unit_file = read_file(raw, UNIT_COLUMNS, REQUIRED_UNIT_COLUMNS)
    except StaffFileError as error:
        report.issues = [ImportIssue(p.line, p.field, p.message) for p in error.problems]
        return report
    report.encoding, report.columns = unit_file.encoding, unit_file.labels
    if not dry_run:
        lock_staff_list()  # before reading what the plan is made from: a second import waits, then plans
    plan = plan_units(unit_file.rows, report)
    if report.issues or dry_run:
        return report
    return apply_units(plan, actor)


def plan_units(rows: list[StaffRow], report: UnitImportReport, *, keep: Iterable[str] = ()) -> UnitImportPlan:
    """Check and plan units given as rows from any source: each row's `line` is what its issues
    name, its values are keyed code, name, name_en, parent (a unit code, "" for the top) and
    sort_order. `keep`: the keys the source does not carry at all ("name", "name_en"): a known unit
    keeps its own value (a new one must still have a name). Every problem goes to `report.issues`;
    the changes are listed in `report`. Reads the units; writes nothing."""
    plan = UnitImportPlan(report, existing={unit.code: unit for unit in db_session.scalars(select(Unit))})
    plan.rows = _checked_rows(rows, plan.existing, report.issues, frozenset(keep))
    if not report.issues:
        _plan(plan)
    return plan


def _checked_rows(rows: list[StaffRow], existing: dict[str, Unit], issues: list[ImportIssue],
                  keep: frozenset[str]) -> list[UnitRow]:
    checked: list[UnitRow] = []
    first_line: dict[str, int] = {}
    for position, row in enumerate(rows, start=1):
        values = row.values
        code, name = values.get("code", ""), values.get("name", "")
        name_en, parent = values.get("name_en", "") or None, values.get("parent", "") or None
        known = existing.get(code)
        if known is not None and "name" in keep:
            name = known.name
        if known is not None and "name_en" in keep:
            name_en = known.name_en
        problems = len(issues)
        if not code:
            issues.append(ImportIssue(row.line, "code", _("the unit code is empty")))
        elif len(code) > MAX_CODE:
            issues.append(ImportIssue(row.line, "code", _("at most %(n)s characters", n=MAX_CODE)))
        elif code in first_line:
            issues.append(ImportIssue(row.line, "code", _("unit %(code)s is already on line %(line)s",
                                                          code=code, line=first_line[code])))
        if not name:
            issues.append(ImportIssue(row.line, "name", _("the unit name is empty")))
        for key, text in (("name", name), ("name_en", name_en or "")):
            if len(text) > MAX_NAME:
                issues.append(ImportIssue(row.line, key, _("at most %(n)s characters", n=MAX_NAME)))
        order_text = values.get("sort_order", "")
        sort_order: int | None = None
        if order_text:
            try:
                sort_order = int(order_text)
            except ValueError:
                issues.append(ImportIssue(row.line, "sort_order", _("%(value)s is not a whole number",
                                                                    value=order_text)))
        first_line.setdefault(code, row.line)
        if len(issues) == problems:
            checked.append(UnitRow(row.line, code, name, name_en, parent, sort_order, position))
    if issues:
        return checked
    # Parents: named in the file or already known, and never a unit's own descendant.
    parent_of = {code: _parent_code(unit, existing) for code, unit in existing.items()}
    parent_of.update({row.code: row.parent for row in checked})
    for unit_row in checked:
        if unit_row.parent is not None and unit_row.parent not in parent_of:
            issues.append(ImportIssue(unit_row.line, "parent", _("unknown unit code %(code)s", code=unit_row.parent)))
            continue
        seen, walker = {unit_row.code}, unit_row.parent
        while walker is not None:
            if walker in seen:
                issues.append(ImportIssue(unit_row.line, "parent", _("unit %(code)s would be placed under itself",
                                                                     code=unit_row.code)))
                break
            seen.add(walker)
            walker = parent_of.get(walker)
    return checked


def _plan(plan: UnitImportPlan) -> None:
    report, existing = plan.report, plan.existing
    for row in plan.rows:
        label = f"{row.code} {row.name}"
        unit = existing.get(row.code)
        if unit is None:
            report.added.append(label)
            continue
        changed = False
        parent_code = _parent_code(unit, existing)
        if parent_code != row.parent:
            report.moved.append(f"{label}: {parent_code or '-'} → {row.parent or '-'}")
            plan.moved.append(row.code)
            changed = True
        order = unit.sort_order if row.sort_order is None else row.sort_order
        if (unit.name, unit.name_en, unit.sort_order) != (row.name, row.name_en, order) or not unit.is_active:
            report.updated.append(label)
            changed = True
        report.unchanged += not changed


def apply_units(plan: UnitImportPlan, actor: Employee | None, *, summary: str = "") -> UnitImportReport:
    """Apply a plan without issues: write the units (`write_units`), then tell who may have a new
    head and record the audit event (`units_applied`). Flushes; the caller commits."""
    write_units(plan)
    units_applied(plan, actor, summary=summary)
    return plan.report


def write_units(plan: UnitImportPlan) -> None:
    """Write the units of a plan without issues: parents before their children, every moved
    subtree's paths anew. Flushes. Alone (without `units_applied`), for a plan of people made
    against the new chart in the same transaction (`flask org sync-ldap`)."""
    if plan.report.issues:
        raise ValueError("a plan with issues cannot be applied")
    by_code = dict(plan.existing)
    pending = list(plan.rows)
    while pending:  # parents first: the checks above guarantee every round places at least one
        ready = [row for row in pending if row.parent is None or row.parent in by_code]
        for row in ready:
            parent = by_code[row.parent] if row.parent else None
            unit = by_code.get(row.code)
            if unit is None:
                by_code[row.code] = create_unit(row.code, row.name, _kind(parent), parent, name_en=row.name_en,
                                                sort_order=row.position * 10 if row.sort_order is None
                                                else row.sort_order)
                continue
            unit.name, unit.name_en, unit.is_active = row.name, row.name_en, True
            if row.sort_order is not None:
                unit.sort_order = row.sort_order
            unit.parent_id, unit.kind = (parent.id if parent else None), _kind(parent)
            unit.parent = parent
        pending = [row for row in pending if row not in ready]
    _recompute_paths(list(by_code.values()))
    db_session.flush()


def units_applied(plan: UnitImportPlan, actor: Employee | None, *, summary: str = "") -> None:
    """After `write_units`, once the change is to stay: everyone under a moved unit (its new path)
    may answer to a new head from now on (ApproversChanged), and the audit event."""
    if plan.moved:
        announce_approvers_changed(actor, (), [plan.existing[code].path for code in plan.moved], "units_imported")
    record_event(actor, "org.units_imported", "unit_list", None, after=plan.report.counts(), summary=summary)
    plan.report.applied = True


def _parent_code(unit: Unit, existing: dict[str, Unit]) -> str | None:
    """The parent's code from the units already read (no query per unit)."""
    codes = {other.id: other.code for other in existing.values()}
    return codes.get(unit.parent_id) if unit.parent_id is not None else None


def _kind(parent: Unit | None) -> UnitKind:
    return UnitKind.DEPARTMENT if parent is None else UnitKind.DIVISION


def _recompute_paths(units: list[Unit]) -> None:
    """Every unit's materialised path from its parent's (a move changes the whole subtree)."""
    by_id = {unit.id: unit for unit in units}

    def path_of(unit: Unit) -> str:
        parent = by_id.get(unit.parent_id) if unit.parent_id is not None else None
        return f"{path_of(parent) if parent else '/'}{unit.id}/"

    for unit in units:
        path = path_of(unit)
        if unit.path != path:
            unit.path = path
