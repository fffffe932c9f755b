"""A live server for the enrolment race tests: the real web stack over real sockets.

`race_site` (module) is its own freshly migrated database (SQLite or PostgreSQL, whatever
MANABI_TEST_BACKEND says) with committed data, served by werkzeug's threaded server on
127.0.0.1. It is NOT the `app` fixture and runs no rolled-back transaction: concurrent requests
need real commits that other connections can see. Each test uses a session (and course) of its
own, so the tests do not depend on one another's order.

`HttpClient` is one browser: its own cookies, one fresh connection per request (werkzeug's
server closes every connection), and `connect()` to open the connection of a request ahead of
time so that many requests can be released at the same moment.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask

from app.core.db import db_session
from tests import factories
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, Response, serve_in_thread  # noqa: F401  (Response: for the tests' type hints)

RACERS = 200
RACE_CAPACITY = 30

@dataclass
class RaceSite:
    url: str
    host: str
    port: int
    app: Flask
    logins: list[str]  # employee numbers of RACERS employees of the targeted grade
    race_session_id: int  # RACE_CAPACITY seats, approval "none", window open
    double_click_session_id: int  # same, another course
    cancel_session_id: int  # one seat, another course
    errors: list[BaseException] = field(default_factory=list)  # exceptions raised in requests

    def client(self) -> HttpClient:
        return HttpClient(self.host, self.port)

    def signed_in_client(self, login: str) -> HttpClient:
        client = self.client()
        client.sign_in(login)
        return client


@pytest.fixture(scope="module")
def race_site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaceSite]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("race-uploads")),
                            # 200 requests at once queue for 20 pooled connections; on a busy CI machine the
                            # wait passed 10 s (a 503). What is tested is the seats, not the pool size.
                            DATABASE_POOL_TIMEOUT=120)
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        division = factories.unit("研修申込検証課")
        logins = [factories.employee(division, "SHUNIN").employee_number for _ in range(RACERS)]
        sessions = []
        for title in ("同時申込の研修", "二度押しの研修", "取消と繰上げの研修"):
            course = factories.course(title_ja=title)
            capacity = 1 if title.startswith("取消") else RACE_CAPACITY
            sessions.append(factories.training_session(course, capacity=capacity, policy="none").id)
        db_session.commit()

    with serve_in_thread(application, "race-live-server") as (port, errors):
        yield RaceSite(url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port,
                       app=application, logins=logins, race_session_id=sessions[0],
                       double_click_session_id=sessions[1], cancel_session_id=sessions[2], errors=errors)
