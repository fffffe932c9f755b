"""On SQLite every unit of work that may write takes the write lock with its first statement
(app/core/db.py, one place for views, CLI commands and jobs): a writer that started as a reader cannot
wait for the lock and got "database is locked" (issue 13: three of five people cancelling at
once got a 500). These tests run on an SQLite file whatever backend the suite is testing, since
the behaviour is SQLite's own."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event

from app.core.db import get_engine
from tests.conftest import build_app, migrate


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    application = build_app(f"sqlite:///{tmp_path / 'lock.sqlite3'}", tmp_path / "uploads")
    migrate(application)
    yield application
    get_engine(application).dispose()


def _begins(application: Flask) -> list[str]:
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(get_engine(application), "before_cursor_execute", capture)
    return seen


def test_a_post_takes_the_write_lock_first_and_a_get_only_reads(sqlite_app: Flask) -> None:
    begins = _begins(sqlite_app)
    client = sqlite_app.test_client()
    assert client.get("/healthz").status_code == 200  # reads the database
    assert begins and set(begins) == {"BEGIN DEFERRED"}, begins
    begins.clear()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    begins.clear()
    response = client.post("/login", data={"login": "nobody", "password": "wrong-password", "csrf_token": token})
    assert response.status_code == 401
    assert begins and set(begins) == {"BEGIN IMMEDIATE"}, begins


def test_a_cli_command_takes_the_write_lock_first(sqlite_app: Flask) -> None:
    begins = _begins(sqlite_app)
    result = sqlite_app.test_cli_runner().invoke(args=["reminders", "scan", "--now", "2026-12-01T09:00:00+09:00"])
    assert result.exit_code == 0, result.output
    assert begins and set(begins) == {"BEGIN IMMEDIATE"}, begins


def test_a_writing_request_waits_for_another_writer_instead_of_failing(sqlite_app: Flask, tmp_path: Path) -> None:
    """Another process holds the write lock for a moment: the request waits (busy timeout) and
    succeeds, where a transaction that had started as a reader would fail at once."""
    other = sqlite3.connect(tmp_path / "lock.sqlite3", isolation_level=None, check_same_thread=False)
    client = sqlite_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        response = client.post("/login", data={"login": "nobody", "password": "wrong-password",
                                               "csrf_token": token})
    finally:
        release.join()
        other.close()
    assert response.status_code == 401  # a refused sign-in, counted; not a 500 "database is locked"
