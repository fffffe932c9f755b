"""Alembic environment: the models' metadata, batch mode for SQLite, foreign tables ignored."""
from __future__ import annotations

from alembic import context

import app.models  # noqa: F401  (registers every table)
from app.core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata

# Tables other software owns (APScheduler's job store, if ever used) are not ours to drop.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    if type_ == "table":
        return name not in FOREIGN_TABLES
    return True


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
