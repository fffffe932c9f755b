from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from flask_babel import force_locale

from app.core.clock import today
from app.core.db import db_session
from app.org.reference import ensure_grades
from app.org.services import ImportReport, import_staff
from app.org.unit_import import UnitImportReport, import_units


def bar_progress(bar: Any) -> Callable[[int, int], None]:
    """A (done, total) progress callback, as the import services report it, that moves a click bar."""
    last = 0

    def progress(done: int, total: int) -> None:
        nonlocal last
        bar.length = total
        bar.update(done - last)
        last = done

    return progress


@click.group("org", help="The organisation: units and staff list import.")
def org_group() -> None:
    pass


def print_unit_changes(report: UnitImportReport, prefix: str = "") -> None:
    """The units a plan adds, updates and moves (each count's label after `prefix`)."""
    for label, lines in (("added", report.added), ("updated", report.updated), ("moved", report.moved)):
        click.echo(f"  {prefix}{label}: {len(lines)}")
        for line in lines[:50]:
            click.echo(f"    {line}")
        if len(lines) > 50:
            click.echo(f"    … and {len(lines) - 50} more")
    click.echo(f"  {prefix}unchanged: {report.unchanged}")


def print_report(report: ImportReport, *, dry_run: bool, filename: str = "",
                 where: Callable[[int], str] | None = None, units: UnitImportReport | None = None) -> None:
    """The plan or the problems. `where(line)` names a row's source instead of "file:line" (the
    directory sync names each entry's DN); `units`: the units planned with the people, listed first."""
    if report.issues:
        click.echo(f"{len(report.issues)} problem(s); nothing was applied:", err=True)
        for issue in report.issues:
            # file:line: column: message, like a compiler, whatever the interface language.
            column = issue.field
            if report.column_label(issue.field) != issue.field:
                column = f"{issue.field} ({report.column_label(issue.field)})"
            location = where(issue.line) if where is not None else f"{filename}:{issue.line}"
            click.echo(f"  {location}: {column}: {issue.message}", err=True)
        return
    heading = "Would change (dry run, nothing applied):" if dry_run else "Applied:"
    click.echo(f"{heading} encoding={report.encoding}")
    if units is not None:
        print_unit_changes(units, "units ")
    for label, changes in (("added", report.added), ("transferred", report.transferred),
                           ("updated", report.updated), ("reactivated", report.reactivated),
                           ("deactivated", report.deactivated), ("unit heads", report.heads)):
        click.echo(f"  {label}: {len(changes)}")
        for change in changes[:50]:
            detail = "; ".join(change.details)
            click.echo(f"    {change.employee_number} {change.name} {detail}".rstrip())
        if len(changes) > 50:
            click.echo(f"    … and {len(changes) - 50} more")
    click.echo(f"  unchanged: {report.unchanged}")


@org_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change and apply nothing.")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date the transfers take effect (default: today in Asia/Tokyo).")
@with_appcontext
def import_cmd(file: Path, dry_run: bool, as_of: object) -> None:
    """Import the HR system's staff CSV (UTF-8 or Shift_JIS)."""
    effective: date = as_of.date() if as_of is not None else today()  # type: ignore[attr-defined]
    ensure_grades()
    raw = file.read_bytes()
    with click.progressbar(length=max(raw.count(b"\n"), 1), label=f"Importing {file.name}",
                           file=sys.stderr) as bar:
        progress = bar_progress(bar)
        # No request here, so no locale to select: the command speaks English throughout.
        with force_locale("en"):
            report = import_staff(raw, None, as_of=effective, dry_run=dry_run, on_progress=progress)
    if report.issues:
        db_session.rollback()
        print_report(report, dry_run=dry_run, filename=file.name)
        raise SystemExit(1)
    if dry_run:
        db_session.rollback()
    else:
        db_session.commit()
    print_report(report, dry_run=dry_run, filename=file.name)


@org_group.command("import-units")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change and apply nothing.")
@with_appcontext
def import_units_cmd(file: Path, dry_run: bool) -> None:
    """Import the organisation chart (units by code, with their parent) before the staff list."""
    with force_locale("en"):
        report = import_units(file.read_bytes(), None, dry_run=dry_run)
    if report.issues:
        db_session.rollback()
        click.echo(f"{len(report.issues)} problem(s); nothing was applied:", err=True)
        for issue in report.issues:
            column = issue.field
            if report.column_label(issue.field) != issue.field:
                column = f"{issue.field} ({report.column_label(issue.field)})"
            click.echo(f"  {file.name}:{issue.line}: {column}: {issue.message}", err=True)
        raise SystemExit(1)
    if dry_run:
        db_session.rollback()
    else:
        db_session.commit()
    click.echo(("Would change (dry run, nothing applied):" if dry_run else "Applied:")
               + f" encoding={report.encoding}")
    print_unit_changes(report)
