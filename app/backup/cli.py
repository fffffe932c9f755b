"""`flask backup create|verify|restore`: the database and the uploads folder in one archive.

Progress goes to stderr line by line (readable in a cron or systemd journal), the result to
stdout; every failure is one clear message and exit status 1, never a traceback."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from app.backup.services import BACKEND_LABELS, BackupError, create_backup, display_url, read_archive, restore_backup


@click.group("backup", help="Backups: the database and the uploads folder in one archive with checksums.")
def backup_group() -> None:
    pass


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    except (OSError, sqlite3.Error, SQLAlchemyError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


def _settings() -> tuple[str, Path]:
    return current_app.config["DATABASE_URL"], Path(current_app.config["UPLOAD_DIR"])


@backup_group.command("create")
@click.argument("path", type=click.Path(path_type=Path))
@with_appcontext
def create_cmd(path: Path) -> None:
    """Back up the database and UPLOAD_DIR to PATH (a .tar.gz file name, or a directory to put a
    time-stamped archive in). Safe while the app runs."""
    database_url, upload_dir = _settings()
    report = _run(lambda: create_backup(database_url, upload_dir, path, progress=_progress))
    click.echo(f"backup written: {report.path} ({report.size:,} bytes)")
    click.echo(f"  {BACKEND_LABELS[report.backend]} at revision {report.revision or '(none)'}: "
               f"{len(report.tables)} tables, {sum(report.tables.values()):,} rows; "
               f"{report.upload_files:,} upload files ({report.upload_bytes:,} bytes)")


@backup_group.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@with_appcontext
def verify_cmd(path: Path) -> None:
    """Check every checksum in the archive at PATH without restoring anything."""
    manifest = _run(lambda: read_archive(path, progress=_progress))
    tables = manifest["tables"]
    click.echo(f"{path}: intact. {BACKEND_LABELS[manifest['backend']]} backup of {manifest['created_at']} at "
               f"revision {manifest.get('alembic_revision') or '(none)'}: {len(tables)} tables, "
               f"{sum(tables.values()):,} rows, {len(manifest['files']) - 1:,} upload files")


@backup_group.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@with_appcontext
def restore_cmd(path: Path) -> None:
    """Restore the archive at PATH into the empty database of DATABASE_URL and the empty UPLOAD_DIR.

    Every checksum is checked first; a damaged archive, a backup of the other backend or a
    non-empty target is refused before anything is written. Stop the app and the scheduler first."""
    database_url, upload_dir = _settings()
    report = _run(lambda: restore_backup(database_url, upload_dir, path, progress=_progress))
    click.echo(f"restored {path} into {display_url(database_url)}: {len(report.tables)} tables, "
               f"{sum(report.tables.values()):,} rows (as in the manifest); {report.upload_files:,} upload files "
               f"into {upload_dir}")
    if report.revision_status == "older":
        click.echo(f"The backup is at revision {report.revision}; this code is at {report.head}. "
                   "Run `flask db upgrade` before starting the app.")
    elif report.revision_status == "none":
        click.echo("The backup has no migration revision (alembic_version); run `flask db upgrade` and check "
                   "the app before use.")
    else:
        click.echo(f"The schema is at revision {report.revision}, this code's head: the app can start.")
