from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.core.db import Base, make_engine
from tests.conftest import build_app, migrate


def test_upgrade_from_empty_to_head_and_models_match(make_database_url, tmp_path):
    url = make_database_url()
    app = build_app(url, tmp_path)
    migrate(app)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"employees", "units", "grades", "placements", "audit_events"} <= tables
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()
        app.extensions["manabi.engine"].dispose()


def test_upgrade_twice_is_a_no_op(make_database_url, tmp_path):
    url = make_database_url()
    app = build_app(url, tmp_path)
    migrate(app)
    migrate(app)
    app.extensions["manabi.engine"].dispose()
