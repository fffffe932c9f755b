"""The organisation chart from a file: `flask org import-units units.csv [--dry-run]`.

A new installation has no units, and staff rows name their unit by code, so the chart comes first.
The file has the same shape rules as the staff CSV (UTF-8 or Shift_JIS, English or Japanese
headers, one-line values: app/org/staff_csv.py), one unit per row:
code (所属コード), name (所属名), name_en (英語名, optional), parent (上位所属コード, empty for a
部局 at the top), sort_order (表示順, optional: the file's order otherwise).

Units are matched by code: new codes are added, changed names and orders updated, a changed parent
moves the unit with everything under it. Units missing from the file are left as they are (a file
may list one department). Any problem (a row naming its line and column) applies nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from app.audit.services import record_event
from app.core.db import db_session
from app.org.models import Employee, Unit, UnitKind
from app.org.services import ImportIssue, announce_approvers_changed, create_unit
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
    existing = {unit.code: unit for unit in db_session.scalars(select(Unit))}
    rows = _checked_rows(unit_file.rows, existing, report.issues)
    if report.issues:
        return report
    _plan(rows, existing, report)
    if not dry_run:
        _apply(rows, existing, actor, report)
    return report


def _checked_rows(rows: list[StaffRow], existing: dict[str, Unit], issues: list[ImportIssue]) -> list[UnitRow]:
    checked: list[UnitRow] = []
    first_line: dict[str, int] = {}
    for position, row in enumerate(rows, start=1):
        values = row.values
        code, name = values.get("code", ""), values.get("name", "")
        name_en, parent = values.get("name_en", "") or None, values.get("parent", "") or None
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


def _plan(rows: list[UnitRow], existing: dict[str, Unit], report: UnitImportReport) -> None:
    for row in rows:
        label = f"{row.code} {row.name}"
        unit = existing.get(row.code)
        if unit is None:
            report.added.append(label)
            continue
        changed = False
        parent_code = _parent_code(unit, existing)
        if parent_code != row.parent:
            report.moved.append(f"{label}: {parent_code or '-'} → {row.parent or '-'}")
            changed = True
        order = unit.sort_order if row.sort_order is None else row.sort_order
        if (unit.name, unit.name_en, unit.sort_order) != (row.name, row.name_en, order) or not unit.is_active:
            report.updated.append(label)
            changed = True
        report.unchanged += not changed


def _apply(rows: list[UnitRow], existing: dict[str, Unit], actor: Employee | None,
           report: UnitImportReport) -> None:
    by_code = dict(existing)
    pending = list(rows)
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
    if report.moved:
        # Everyone under a moved unit (its new path) may answer to a new head from now on.
        moved = [by_code[line.split(" ", 1)[0]].path for line in report.moved]
        announce_approvers_changed(actor, (), moved, "units_imported")
    record_event(actor, "org.units_imported", "unit_list", None, after=report.counts())
    report.applied = True


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
