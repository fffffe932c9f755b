"""The demo loaded once per pinned instant, handed out as cheap copies.

`flask demo load` takes seconds; a test that needs the demo of a pinned day takes a copy of one
loaded per session (`demo_databases` in tests/conftest.py): a file copy on SQLite, a database
cloned from a template on PostgreSQL, and a copy of the upload folder the load wrote into. A copy is
served by an app of its own (not the `app` fixture), with no rolled-back transaction around it: the
test may write what it likes and no other test sees it. The clock is pinned while the demo is
loaded (time stands still there).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import time_machine
from flask import Flask

from app.core.clock import TOKYO
from app.core.db import db_session
from tests.conftest import build_app, migrate

if TYPE_CHECKING:
    from tests.pg_cluster import Cluster

# The instant most tests take the demo at, so that they share one load: 10:00 on Tuesday
# 1 December 2026, in 下期 (the past 上期's report published, today's session open for check-in).
DEMO_AT = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO)


@dataclass(frozen=True)
class DemoCopy:
    app: Flask
    logins: dict[str, str]  # demo role ("employee", "manager", "HR" …) -> login


@dataclass(frozen=True)
class _Loaded:
    database: str  # the SQLite file, or the PostgreSQL template database's name
    uploads: Path
    logins: dict[str, str]


class DemoDatabases:
    """The demo of each instant asked for, loaded on first request; `copy(at)` gives a fresh copy.

    One app serves every copy, one at a time: its database (and upload folder) is replaced by the
    copy's each time, so its engine, and the SQL it has compiled already, are reused."""

    def __init__(self, directory: Path, cluster: Cluster | None) -> None:
        self._directory = directory
        self._cluster = cluster
        self._loaded: dict[datetime, _Loaded] = {}
        self._in_use = False
        if cluster is not None:
            self._work = f"manabi_{os.getpid()}_demo_work"
            url = cluster.create_database(self._work)
        else:
            self._work = str(directory / "demo-work.sqlite3")
            url = f"sqlite:///{self._work}"
        self._uploads = directory / "demo-work-uploads"
        self._uploads.mkdir()
        self.app = build_app(url, self._uploads)
        migrate(self.app)
        with self.app.app_context():
            from app.org.reference import ensure_grades

            ensure_grades()
            db_session.commit()
            db_session.remove()
        self._empty = _Loaded(self._save("demo-empty"), directory / "demo-empty-uploads", {})
        shutil.copytree(self._uploads, self._empty.uploads)

    def _save(self, name: str) -> str:
        """Keep what the app's database holds now under `name` (a template or a file)."""
        self.app.extensions["manabi.engine"].dispose()  # a template must have no connection open
        if self._cluster is not None:
            database = f"manabi_{os.getpid()}_{name}"
            self._run(f'CREATE DATABASE "{database}" TEMPLATE "{self._work}"')
            return database
        path = str(self._directory / f"{name}.sqlite3")
        shutil.copyfile(self._work, path)
        return path

    def _restore(self, loaded: _Loaded) -> None:
        """Make the app's database and upload folder a copy of `loaded`."""
        self.app.extensions["manabi.engine"].dispose()
        if self._cluster is not None:
            self._run(f'DROP DATABASE "{self._work}"')
            self._run(f'CREATE DATABASE "{self._work}" TEMPLATE "{loaded.database}"')
        else:
            shutil.copyfile(loaded.database, self._work)
        shutil.rmtree(self._uploads)
        shutil.copytree(loaded.uploads, self._uploads)

    def _run(self, statement: str) -> None:
        """A statement on the PostgreSQL cluster, outside any transaction."""
        import psycopg

        assert self._cluster is not None
        with psycopg.connect(f"host=127.0.0.1 port={self._cluster.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(statement)

    def _load(self, at: datetime) -> _Loaded:
        from app.demo.cli import load_demo

        name = f"demo{len(self._loaded) + 1}"
        self._restore(self._empty)
        with time_machine.travel(at, tick=False), self.app.app_context():
            logins = {entry.role.split(" (")[0]: entry.login for entry in load_demo()}
            db_session.commit()
            db_session.remove()
        uploads = self._directory / f"{name}-uploads"
        shutil.copytree(self._uploads, uploads)
        return _Loaded(self._save(name), uploads, logins)

    @contextmanager
    def copy(self, at: datetime) -> Iterator[DemoCopy]:
        """A copy of the demo loaded at `at` and the app that serves it; one copy at a time."""
        assert not self._in_use, "one demo copy at a time"
        self._in_use = True
        try:
            if at not in self._loaded:
                self._loaded[at] = self._load(at)
            loaded = self._loaded[at]
            self._restore(loaded)
            yield DemoCopy(self.app, dict(loaded.logins))
        finally:
            db_session.remove()
            self._in_use = False
