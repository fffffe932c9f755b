"""`flask db upgrade|check|revision|current`: Alembic, configured from the app's DATABASE_URL."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import with_appcontext

if TYPE_CHECKING:  # Alembic (and Mako, Pygments) load only when a db command runs: ~0.13 s a process
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = database_url or current_app.config["DATABASE_URL"]
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(database_url: str | None = None, revision: str = "head") -> None:
    if (database_url or current_app.config["DATABASE_URL"]).startswith("sqlite:///"):
        path = Path((database_url or current_app.config["DATABASE_URL"])[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


@click.group("db", help="Database migrations (Alembic).")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def upgrade_cmd(revision: str) -> None:
    """Migrate the database to REVISION (default: head). The release step in production."""
    upgrade_database(revision=revision)
    click.echo("database is at " + revision)


@db_group.command("check")
@with_appcontext
def check_cmd() -> None:
    """Fail if the models and the migrations disagree."""
    from alembic import command

    command.check(alembic_config())


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def revision_cmd(message: str) -> None:
    """Autogenerate a new migration from the models (read it before committing)."""
    from alembic import command

    command.revision(alembic_config(), message=message, autogenerate=True)


@db_group.command("current")
@with_appcontext
def current_cmd() -> None:
    from alembic import command

    command.current(alembic_config())
