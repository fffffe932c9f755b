from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app.catalog.queries import course_by_code
from app.catalog.services import SyncConflict, SyncReport, export_course_file, sync_catalog
from app.core.clock import to_tokyo
from app.core.db import db_session
from app.org.reference import ensure_grades

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "courses"


@click.group("catalog", help="The course catalog in courses/.")
def catalog_group() -> None:
    pass


def describe_conflict(conflict: SyncConflict) -> str:
    """"SMART-2020 (smart-2020.md): edited on the web by 人事 花子 on 2026-12-01 10:15 JST"."""
    where = f" ({conflict.file})" if conflict.file else " (its file is gone: it would be retired)"
    who = f" by {conflict.edited_by}" if conflict.edited_by else ""
    return f"{conflict.code}{where}: edited on the web{who} on {to_tokyo(conflict.edited_at):%Y-%m-%d %H:%M} JST"


def print_sync_report(report: SyncReport, *, dry_run: bool) -> None:
    if report.issues:
        click.echo(f"{len(report.issues)} problem(s); nothing was applied:", err=True)
        for issue in report.issues:
            click.echo(f"  {issue}", err=True)
        return
    if report.conflicts:
        click.echo(f"{len(report.conflicts)} course(s) were edited on the web since their last sync; "
                   "nothing was applied:", err=True)
        for conflict in report.conflicts:
            click.echo(f"  {describe_conflict(conflict)}", err=True)
        click.echo("Keep the web edits: export each course (flask catalog export CODE -o courses/FILE), commit the "
                   "file and sync again. Or discard them: sync again with --force.", err=True)
        return
    prefix = "would be " if dry_run else ""
    for conflict in report.overwritten:
        click.echo(f"{prefix}overwritten web edit: {describe_conflict(conflict)}")
    for label, codes in (("added", report.added), ("changed", report.changed), ("retired", report.retired)):
        click.echo(f"{prefix}{label}: {len(codes)}" + (f"  ({', '.join(codes)})" if codes else ""))
    click.echo(f"unchanged: {len(report.unchanged)}")


@catalog_group.command("sync")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Report what would change and apply nothing.")
@click.option("--force", is_flag=True, help="Overwrite courses edited on the web since their last sync.")
@with_appcontext
def sync_cmd(directory: Path | None, dry_run: bool, force: bool) -> None:
    """Upsert courses and programmes from DIRECTORY (default: courses/).

    A course edited on the web since its last sync stops the whole sync (nothing is applied) and
    is named with its editor, unless --force."""
    ensure_grades()
    report = sync_catalog(directory or DEFAULT_DIR, None, dry_run=dry_run, force=force)
    print_sync_report(report, dry_run=dry_run)
    if not report.ok:
        db_session.rollback()
        raise SystemExit(1)
    if dry_run:
        db_session.rollback()
    else:
        db_session.commit()


@catalog_group.command("export")
@click.argument("code")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)")
@with_appcontext
def export_cmd(code: str, output: Path | None) -> None:
    """Write course CODE in the courses/ file format."""
    course = course_by_code(code)
    if course is None:
        raise click.ClickException(f"no course with code {code}")
    text = export_course_file(course)
    if output:
        output.write_bytes(text.encode("utf-8"))  # byte for byte: no newline translation
    else:
        click.echo(text, nl=False)
