"""Registers every domain's command group on the app (`flask db`, `flask org`, `flask demo` …)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.catalog.cli import catalog_group
    from app.migrate_cli import db_group
    from app.org.cli import demo_group, org_group

    for group in (db_group, org_group, demo_group, catalog_group):
        app.cli.add_command(group)
