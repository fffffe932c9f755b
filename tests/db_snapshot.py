"""Every row of every table, to assert that a request changed nothing in the database."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core.db import Base, db_session

IGNORED: frozenset[str] = frozenset()  # nothing: a GET writes no table


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Call inside an app context; rows sorted so the comparison ignores their order."""
    rows = {}
    for table in Base.metadata.sorted_tables:
        if table.name not in IGNORED:
            rows[table.name] = sorted((tuple(row) for row in db_session.execute(select(table))), key=repr)
    db_session.rollback()  # leave no transaction open across the client's requests
    return rows


def changed_tables(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]
