"""`flask retention run [--dry-run] [--today DATE]`, and the nightly scheduler job (the same run).

The edge of the retention package: it commits, removes the files of deleted rows after the
commit, and records one audit event (counts only)."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.core.clock import TOKYO, today
from app.core.db import db_session
from app.retention.services import (
    RetentionPolicy,
    RetentionReport,
    apply_retention,
    plan_retention,
    record_run,
    remove_files,
)


def run_retention(app: Flask, on: date, *, dry_run: bool = False) -> RetentionReport:
    """Plan (dry run) or apply the policy in app.config as of `on`; commits when it applies."""
    policy = RetentionPolicy.from_config(app.config)
    upload_dir = Path(app.config["UPLOAD_DIR"])
    if dry_run:
        report = plan_retention(policy, on, upload_dir)
        db_session.rollback()
        return report
    result = apply_retention(policy, on, upload_dir)
    db_session.commit()
    removed = remove_files(upload_dir, result.files_to_remove)
    report = RetentionReport(result.report.today, result.report.categories, removed)
    if report.total:
        record_run(report)
        db_session.commit()
    return report


def nightly(app: Flask, at: datetime, holder: str) -> None:
    """The scheduler job: delete or anonymise what the retention policy no longer allows."""
    run_retention(app, at.astimezone(TOKYO).date())


@click.group("retention", help="Personal data kept only as long as the retention policy allows.")
def retention_group() -> None:
    pass


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@click.option("--today", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Act as on this day (default: today in Japan).")
@with_appcontext
def run_cmd(dry_run: bool, on: datetime | None) -> None:
    """Delete or anonymise the records whose retention has expired, and report per category."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    day = on.date() if on is not None else today()
    report = run_retention(app, day, dry_run=dry_run)
    click.echo(f"retention {'dry run' if dry_run else 'run'} as of {day.isoformat()}")
    for category in report.categories:
        click.echo(category.line())
    if not dry_run:
        click.echo(f"files removed: {report.removed_files}")
    click.echo(f"total: {report.total}")
