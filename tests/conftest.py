"""Fixtures: a migrated database (SQLite, or a throwaway PostgreSQL cluster when
MANABI_TEST_BACKEND=postgresql), the app, a rolled-back transaction per test, and clients.

Services commit at the edge; in tests those commits release a SAVEPOINT inside an outer
transaction that is rolled back after each test, so tests never see each other's data.
Do not hold an app context across client requests (Flask-Babel caches the locale on it).
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Apps the tests build with other configurations (production, development) leave their records to
# pytest's capture instead of printing a JSON line per request into the test output.
os.environ.setdefault("LOG_FORMAT", "off")

from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.core.db import db_session
from config import TestConfig

if TYPE_CHECKING:
    from tests.demo_db import DemoDatabases
    from tests.mailsink import MailSink

BACKEND = os.environ.get("MANABI_TEST_BACKEND", "sqlite")
_names = itertools.count(1)


def pytest_report_header() -> str:
    return f"manabi database backend: {BACKEND}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Capture the session's log (tests/log_capture.py) from the start."""
    from tests import log_capture

    log_capture.install(BACKEND)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Whatever ran, fail the session if its log holds a password, an e-mail address or a secret."""
    from tests import log_capture

    path = log_capture.uninstall()
    if path is None or not path.exists():
        return
    findings = log_capture.scan(path)
    if not findings:
        path.unlink()
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    write(f"\nThe log of this session holds what must never be logged ({len(findings)} finding(s)) in {path}:")
    for finding in findings[:50]:
        write(f"  {finding}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    from tests.pg_cluster import start_cluster

    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def ldap_server():  # type: ignore[no-untyped-def]
    """A real OpenLDAP (slapd) loaded with a small prefecture, for the session (tests/ldap_server.py)."""
    from tests.ldap_server import start_server

    server = start_server()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def make_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], str]:
    """Return a factory of empty databases of the backend under test (not migrated)."""
    if BACKEND == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        return lambda: cluster.create_database(f"manabi_{os.getpid()}_{next(_names)}")
    if BACKEND != "sqlite":
        raise RuntimeError(f"unknown MANABI_TEST_BACKEND {BACKEND!r}")
    base = tmp_path_factory.mktemp("db")
    return lambda: f"sqlite:///{base / f'manabi_{next(_names)}.sqlite3'}"


def build_app(database_url: str, upload_dir: Path, **overrides: object) -> Flask:
    return create_app(TestConfig(), overrides={"DATABASE_URL": database_url, "UPLOAD_DIR": str(upload_dir),
                                               **overrides})


def migrate(app: Flask) -> None:
    from app.core.migrate_cli import upgrade_database

    with app.app_context():
        upgrade_database()


@pytest.fixture(scope="session")
def app(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    application = build_app(make_database_url(), tmp_path_factory.mktemp("uploads"))
    migrate(application)
    with application.app_context():
        from app.org.reference import ensure_grades

        ensure_grades()
        db_session.commit()
    yield application
    application.extensions["manabi.engine"].dispose()


@pytest.fixture(scope="session")
def demo_databases(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDatabases]:
    """The demo loaded once per pinned instant; `demo_databases.copy(at)` gives a test a copy of
    its own, to read or change (tests/demo_db.py)."""
    from tests.demo_db import DemoDatabases

    cluster = request.getfixturevalue("pg_cluster") if BACKEND == "postgresql" else None
    demos = DemoDatabases(tmp_path_factory.mktemp("demo"), cluster)
    yield demos
    demos.app.extensions["manabi.engine"].dispose()


@pytest.fixture(autouse=True)
def _rolled_back_transaction(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs inside one outer transaction on the session app, rolled back after it."""
    if "app" not in request.fixturenames:
        yield
        return
    application: Flask = request.getfixturevalue("app")
    engine = application.extensions["manabi.engine"]
    connection = engine.connect()
    outer = connection.begin()
    application.extensions["manabi.bind"] = connection
    try:
        yield
    finally:
        db_session.remove()
        application.extensions["manabi.bind"] = engine
        outer.rollback()
        connection.close()


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """An app context for service-level tests that make no client requests."""
    with app.test_request_context():
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    """A real SMTP server on 127.0.0.1 for the test."""
    from tests.mailsink import MailSink

    sink = MailSink().start()
    yield sink
    sink.stop()
