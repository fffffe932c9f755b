"""Error pages never need the database (app/web/errors.py).

While the database is down, every page that needs it answers 503 "temporarily unavailable" in
the user's language (from the session and Accept-Language alone) with Retry-After, pages that do
not need it still work, /healthz says 503; when the database is back the same pages answer again
without restarting the app.

The outage test runs the real stack (werkzeug's threaded server over sockets) on a database of
its own, on the backend under test: on PostgreSQL a cluster of its own that it stops and starts
(the session's cluster is left alone); on SQLite the database's directory disappears (as a lost
volume would) and the pool's idle connections are dropped with it, then it comes back.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask, session
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool

from app.core.db import db_session
from app.web.errors import RETRY_AFTER_SECONDS, is_database_unavailable, render_error
from tests import factories
from tests.conftest import BACKEND, build_app, migrate
from tests.http_client import HttpClient, Response, serve_in_thread

UNAVAILABLE = {"ja": "サービスが一時的に利用できません", "en": "The service is temporarily unavailable"}
NOT_FOUND = {"ja": "ページが見つかりません", "en": "The page was not found"}


# --- the outage, through the real stack ------------------------------------------------------

@dataclass
class OutageSite:
    app: Flask
    down: Callable[[], None]
    up: Callable[[], None]
    logins: dict[str, str]  # "plain", "browser-en": no language set; "english": chose English in the app


def _populate(application: Flask) -> dict[str, str]:
    from app.org.reference import ensure_grades

    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        division = factories.unit("障害時表示検証課")
        plain, browser_en, english = (factories.employee(division) for _ in range(3))
        english.locale = "en"
        factories.course(title_ja="障害時にも表示される研修")
        db_session.commit()
        logins = {"plain": plain.employee_number, "browser-en": browser_en.employee_number,
                  "english": english.employee_number}
        db_session.remove()
    return logins


@pytest.fixture
def outage_site(tmp_path: Path) -> Iterator[OutageSite]:
    if BACKEND == "postgresql":
        from tests.pg_cluster import start_cluster

        cluster = start_cluster()  # its own: stopping it leaves the session's cluster alone
        running = [True]

        def down() -> None:
            cluster.shut_down()
            running[0] = False

        def up() -> None:
            cluster.start()
            running[0] = True

        try:
            application = build_app(cluster.create_database("manabi_outage"), tmp_path / "uploads")
            try:
                yield OutageSite(application, down, up, _populate(application))
            finally:
                application.extensions["manabi.engine"].dispose()
        finally:
            if not running[0]:
                try:
                    cluster.start()  # so that stop() finds a server to stop
                except subprocess.CalledProcessError:
                    pass
            cluster.stop()
        return

    directory = tmp_path / "database"
    away = tmp_path / "database-gone"
    directory.mkdir()
    application = build_app(f"sqlite:///{directory / 'manabi.sqlite3'}", tmp_path / "uploads")

    def sqlite_down() -> None:
        directory.rename(away)
        # Open connections keep the file's inode; a lost volume takes them too.
        application.extensions["manabi.engine"].pool.dispose()

    def sqlite_up() -> None:
        away.rename(directory)

    try:
        yield OutageSite(application, sqlite_down, sqlite_up, _populate(application))
    finally:
        if away.exists():
            sqlite_up()
        application.extensions["manabi.engine"].dispose()


@dataclass
class Visit:
    who: str
    method: str
    path: str
    language: str  # the language the error page must be in
    status_when_up: int


def _assert_unavailable_page(response: Response, language: str, label: str) -> None:
    assert response.status == 503, (label, response.status, response.text[:300])
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS), label
    assert response.headers["Content-Type"].startswith("text/html"), label
    assert f'<html lang="{language}">' in response.text, label
    assert UNAVAILABLE[language] in response.text, label
    other = "en" if language == "ja" else "ja"
    assert UNAVAILABLE[other] not in response.text, label
    assert "Traceback" not in response.text and "Internal Server Error" not in response.text, label
    assert 'class="main-nav"' not in response.text, label  # no menu: it would need the database


def test_pages_answer_503_in_the_users_language_while_the_database_is_down_and_recover(outage_site):
    site = outage_site
    with serve_in_thread(site.app, "outage-live-server") as (port, errors):
        clients = {
            "ja": HttpClient("127.0.0.1", port, "ja").sign_in(site.logins["plain"]),
            "en": HttpClient("127.0.0.1", port, "en-US,en;q=0.9").sign_in(site.logins["browser-en"]),
            # Chose English in the app, browser in Japanese: the session carries the choice.
            "chose-en": HttpClient("127.0.0.1", port, "ja").sign_in(site.logins["english"]),
            "anonymous-ja": HttpClient("127.0.0.1", port, "ja"),
            "anonymous-en": HttpClient("127.0.0.1", port, "en"),
        }
        tokens = {who: client.csrf_token("/login" if who.startswith("anonymous") else "/")
                  for who, client in clients.items()}
        visits = [
            Visit("ja", "GET", "/", "ja", 200),
            Visit("ja", "GET", "/catalog/", "ja", 200),  # kept by the page cache, whose key needs the database
            Visit("ja", "GET", "/my-learning", "ja", 200),
            Visit("ja", "GET", "/notifications", "ja", 200),
            Visit("ja", "POST", "/notifications/read-all", "ja", 302),
            Visit("en", "GET", "/", "en", 200),
            Visit("en", "GET", "/catalog/", "en", 200),
            Visit("en", "POST", "/locale", "en", 302),
            Visit("chose-en", "GET", "/", "en", 200),
            Visit("chose-en", "GET", "/transcript", "en", 302),
            Visit("anonymous-ja", "POST", "/login", "ja", 302),
            Visit("anonymous-en", "POST", "/login", "en", 302),
        ]

        def send(visit: Visit) -> Response:
            client = clients[visit.who]
            if visit.method == "GET":
                return client.get(visit.path)
            data = {"csrf_token": tokens[visit.who]}
            if visit.path == "/locale":
                data.update(locale="en", next="/")
            if visit.path == "/login":
                data.update(login=site.logins["plain"], password=factories.PASSWORD)
            return client.post(visit.path, data)

        for visit in visits:
            if visit.path != "/login":  # signing in twice would only start a new session
                assert send(visit).status == visit.status_when_up, visit

        site.down()
        for visit in visits:
            _assert_unavailable_page(send(visit), visit.language, f"{visit.method} {visit.path} as {visit.who}")

        as_json = clients["ja"].request("GET", "/my-learning", extra_headers={"Accept": "application/json"})
        assert as_json.status == 503 and as_json.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert UNAVAILABLE["ja"] in json.loads(as_json.text)["error"]

        health = clients["anonymous-ja"].get("/healthz")
        assert health.status == 503 and json.loads(health.text)["database"] == "unavailable"

        # What needs no database still works, and other errors keep their own status and page.
        for who, language in (("ja", "ja"), ("chose-en", "en"), ("anonymous-en", "en")):
            missing = clients[who].get("/no-such-page")
            assert missing.status == 404, (who, missing.text[:300])
            assert NOT_FOUND[language] in missing.text and f'<html lang="{language}">' in missing.text
        assert clients["anonymous-ja"].get("/login").status == 200
        refused = clients["ja"].post("/notifications/read-all", {"csrf_token": "forged"})
        assert refused.status == 400 and '<html lang="ja">' in refused.text

        site.up()  # the same app and server: no restart
        for visit in visits:
            response = send(visit)
            assert response.status == visit.status_when_up, (visit, response.text[:300])
        assert clients["anonymous-ja"].get("/healthz").status == 200
        assert errors == []  # nothing escaped the error handlers


# --- every error page, with the database unreachable -----------------------------------------

@pytest.fixture
def dead_database(app: Flask, tmp_path: Path) -> Iterator[None]:
    """The app's database cannot be reached: every connection attempt fails."""
    original = app.extensions["manabi.bind"]
    broken = create_engine(f"sqlite:///{tmp_path / 'gone' / 'manabi.sqlite3'}")
    app.extensions["manabi.bind"] = broken
    try:
        yield
    finally:
        db_session.remove()
        app.extensions["manabi.bind"] = original
        broken.dispose()


@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_error_page_renders_for_a_signed_in_session_without_the_database(app, dead_database, language):
    messages = {"ja": "ページを開く権限がありません", "en": "You do not have permission"}
    for code in (400, 403, 404, 405, 413, 429, 500, 503):
        with app.test_request_context("/catalog/", headers={"Accept-Language": language}):
            session["_user_id"] = "1"  # loading this user would need the database
            response = render_error(code)
            html = response.get_data(as_text=True)
        assert response.status_code == code
        assert f'<html lang="{language}">' in html and f"{code}" in html
        assert 'class="main-nav"' not in html
        if code == 403:
            assert messages[language] in html
        assert ("Retry-After" in response.headers) == (code == 503)


def test_the_users_language_in_the_session_wins_over_the_browser(app, dead_database):
    with app.test_request_context("/", headers={"Accept-Language": "ja"}):
        session["_user_id"] = "1"
        session["locale"] = "en"
        html = render_error(503).get_data(as_text=True)
    assert '<html lang="en">' in html and UNAVAILABLE["en"] in html


def test_a_signed_in_request_meets_the_dead_database_as_a_503_even_in_tests(app, client, tmp_path):
    with app.app_context():
        person = factories.employee()
    factories.login_as(client, person)
    token = factories.csrf_token(client, "/")
    broken = create_engine(f"sqlite:///{tmp_path / 'gone' / 'manabi.sqlite3'}")
    original = app.extensions["manabi.bind"]
    app.extensions["manabi.bind"] = broken
    try:
        assert app.testing
        for method, path in (("GET", "/"), ("GET", "/catalog/"), ("POST", "/notifications/read-all")):
            response = client.open(path, method=method, data={"csrf_token": token})
            assert response.status_code == 503, path
            assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
            assert UNAVAILABLE["ja"] in response.get_data(as_text=True)
        assert client.post("/healthz").status_code == 405
        expired_form = client.post("/notifications/read-all", data={"csrf_token": "forged"})
        assert expired_form.status_code == 400 and '<html lang="ja">' in expired_form.get_data(as_text=True)
        assert client.get("/no-such-page").status_code == 404
        assert client.get("/healthz").headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    finally:
        db_session.remove()
        app.extensions["manabi.bind"] = original
        broken.dispose()
    assert client.get("/").status_code == 200  # back, same app


def test_a_genuine_bug_while_the_database_is_down_gets_the_friendly_500(app, dead_database, monkeypatch):
    monkeypatch.setattr(app, "testing", False)
    with app.test_request_context("/", headers={"Accept-Language": "ja"}):
        session["_user_id"] = "1"
        response = app.make_response(app.handle_user_exception(RuntimeError("a bug")))
        html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "システムでエラーが発生しました" in html and "Traceback" not in html


# --- what counts as an outage ----------------------------------------------------------------

def _raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as error:
        return error
    raise AssertionError("nothing was raised")


def test_outages_are_told_apart_from_bugs(tmp_path):
    missing = create_engine(f"sqlite:///{tmp_path / 'gone' / 'x.sqlite3'}")
    present = create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}", poolclass=QueuePool, pool_size=1,
                            max_overflow=0, pool_timeout=0.05)
    try:
        with present.begin() as connection:
            connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            connection.execute(text("INSERT INTO t (id) VALUES (1)"))
        cannot_open = _raised(lambda: missing.connect())
        with present.connect() as connection:
            no_such_table = _raised(lambda: connection.execute(text("SELECT * FROM nowhere")))
            connection.rollback()
            syntax = _raised(lambda: connection.execute(text("SELEKT 1")))
            connection.rollback()
            duplicate = _raised(lambda: connection.execute(text("INSERT INTO t (id) VALUES (1)")))
            connection.rollback()
            pool_exhausted = _raised(lambda: present.connect())  # the only connection is in use
    finally:
        missing.dispose()
        present.dispose()
    assert isinstance(cannot_open, sa_exc.OperationalError) and is_database_unavailable(cannot_open)
    assert isinstance(pool_exhausted, sa_exc.TimeoutError) and is_database_unavailable(pool_exhausted)
    for bug in (no_such_table, syntax, duplicate):
        assert isinstance(bug, sa_exc.DBAPIError) and not is_database_unavailable(bug), bug
    try:
        raise RuntimeError("wrapped") from cannot_open
    except RuntimeError as wrapped:
        assert is_database_unavailable(wrapped)
    assert not is_database_unavailable(RuntimeError("a bug"))


def test_a_wrong_statement_is_still_a_bug_in_tests(app, client, tmp_path):
    """An SQLite OperationalError that is not an outage (here: no such table) still reaches the test."""
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with client.session_transaction() as cookie:
        cookie["_user_id"] = "1"
    original = app.extensions["manabi.bind"]
    app.extensions["manabi.bind"] = empty
    try:
        with pytest.raises(sa_exc.OperationalError, match="no such table"):
            client.get("/")
    finally:
        db_session.remove()
        app.extensions["manabi.bind"] = original
        empty.dispose()
