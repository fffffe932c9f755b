"""The cached catalog and team pages (app/auth/page_cache.py, app/core/cache_generation.py): what a person
sees is fresh after every committed write, never another person's page, and the cache is bounded.

A page served from the cache costs one statement (reading the data generation); `fetch` returns
that count so each test can tell a cached answer from a rendered one.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auth.page_cache import PageCache, PageKey, get_cache
from app.catalog.models import Course
from app.core.cache_generation import CacheGeneration
from app.core.clock import now, today
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit
from app.scheduling.models import TrainingSession
from tests import factories
from tests.querycount import count_statements

CACHED = 1  # statements of a page served from the cache: the generation, nothing else


def fetch(app: Flask, client: FlaskClient, path: str) -> tuple[str, int]:
    with count_statements(app) as counter:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True), counter.count


def signed_in(app: Flask, person: Employee) -> FlaskClient:
    client = app.test_client()
    factories.login_as(client, person)
    return client


def generation(app: Flask) -> str:
    with app.app_context():
        return db_session.scalar(select(CacheGeneration.token).where(CacheGeneration.name == "pages"))


def card(html: str, title: str) -> str:
    return next(c for c in html.split('class="card"')[1:] if title in c)


@pytest.fixture
def catalog(app):  # type: ignore[no-untyped-def]
    """情報政策課: a 主任 and a 課長; キャッシュ研修 for 主任級 with a session of three seats."""
    with app.app_context():
        division = factories.unit("情報政策課")
        chief = factories.employee(division, "SHUNIN", name="主任 一郎")
        section_head = factories.employee(division, "KACHO", name="課長 二郎")
        hr = factories.employee(roles=(RoleName.HR,))
        course = factories.course("CACHE-1", title_ja="キャッシュ研修", grades=("SHUNIN",))
        session = factories.training_session(course, capacity=3)
        return {"chief": chief, "section_head": section_head, "hr": hr, "session": session.id}


@pytest.fixture
def teams(app):  # type: ignore[no-untyped-def]
    """Two departments, each with its head and one 主任 owing 必修研修 (due in a month)."""
    with app.app_context():
        somu = factories.unit("総務部")
        fukushi = factories.unit("福祉部")
        people = {
            "somu_head": factories.employee(somu, "BUCHO", heads=somu, name="総務 部長"),
            "fukushi_head": factories.employee(fukushi, "BUCHO", heads=fukushi, name="福祉 部長"),
            "aoki": factories.employee(factories.unit("人事課", somu), "SHUNIN", name="青木 一郎"),
            "kimura": factories.employee(factories.unit("福祉課", fukushi), "SHUNIN", name="木村 陽子"),
        }
        course = factories.course("MUST-1", title_ja="必修研修", grades=("SHUNIN",))
        factories.assignment_rule(course, "SHUNIN", fiscal_year=2025, due_on=today() + timedelta(days=30))
        return people


# --- fresh after every write -----------------------------------------------------------------


def test_a_seat_taken_shows_on_the_catalog_at_once(app, catalog):
    chief, head = signed_in(app, catalog["chief"]), signed_in(app, catalog["section_head"])
    for client in (chief, head):
        html, _ = fetch(app, client, "/catalog/")
        assert "残り 3 席" in card(html, "キャッシュ研修")
        html, statements = fetch(app, client, "/catalog/")
        assert statements == CACHED and "残り 3 席" in card(html, "キャッシュ研修")

    token = factories.csrf_token(chief, "/catalog/")  # taken from the cached page: it must work
    response = chief.post(f"/sessions/{catalog['session']}/enrol", data={"csrf_token": token, "next": "/catalog/"})
    assert response.status_code == 302

    for client in (chief, head):
        html, statements = fetch(app, client, "/catalog/")
        assert statements > CACHED and "残り 2 席" in card(html, "キャッシュ研修")


def test_a_course_edit_and_a_retirement_show_on_the_catalog_at_once(app, catalog):
    from app.catalog.services import retire_course, save_course, spec_from_course

    chief = signed_in(app, catalog["chief"])
    fetch(app, chief, "/catalog/")
    assert fetch(app, chief, "/catalog/")[1] == CACHED
    with app.app_context():
        course = db_session.scalar(select(Course).where(Course.code == "CACHE-1"))
        save_course(catalog["hr"], course, dataclasses.replace(spec_from_course(course), title_ja="改題した研修"))
        db_session.commit()
    html, _ = fetch(app, chief, "/catalog/")
    assert "改題した研修" in html and "キャッシュ研修" not in html

    with app.app_context():
        retire_course(catalog["hr"], db_session.scalar(select(Course).where(Course.code == "CACHE-1")))
        db_session.commit()
    assert "改題した研修" not in fetch(app, chief, "/catalog/")[0]


def test_a_completion_and_a_new_assignment_show_on_the_team_page_at_once(app, teams):
    from app.completion.services import record_manual_completion

    head = signed_in(app, teams["somu_head"])
    html, _ = fetch(app, head, "/team")
    assert re.findall(r'<tr class="status-([a-z_]+)"><th scope="row">青木 一郎', html) == ["not_enrolled"]
    assert fetch(app, head, "/team")[1] == CACHED

    with app.app_context():
        course = db_session.scalar(select(Course).where(Course.code == "MUST-1"))
        record_manual_completion(None, db_session.get(Employee, teams["aoki"].id), course, today(),  # type: ignore[arg-type]
                                 Decimal("3"), "")
        db_session.commit()
    html, _ = fetch(app, head, "/team")
    assert re.findall(r'<tr class="status-([a-z_]+)"><th scope="row">青木 一郎', html) == ["completed"]

    with app.app_context():
        factories.assignment_rule(factories.course("NEW-1", title_ja="新しい研修", grades=("SHUNIN",)), "SHUNIN",
                                  fiscal_year=2025, due_on=today() + timedelta(days=60))
    assert "新しい研修" in fetch(app, head, "/team")[0]


def test_a_locale_switch_shows_at_once(app, catalog):
    chief = signed_in(app, catalog["chief"])
    assert "研修一覧" in fetch(app, chief, "/catalog/")[0]
    token = factories.csrf_token(chief, "/catalog/")
    assert chief.post("/locale", data={"csrf_token": token, "locale": "en", "next": "/catalog/"}).status_code == 302
    html, _ = fetch(app, chief, "/catalog/")
    assert "Course catalog" in html and "研修一覧" not in html


# --- a write that did not happen changes nothing ---------------------------------------------


def test_a_rolled_back_write_leaves_the_page_and_the_generation_as_they_were(app, catalog):
    chief = signed_in(app, catalog["chief"])
    fetch(app, chief, "/catalog/")
    before = generation(app)
    with app.app_context():
        db_session.scalar(select(Course).where(Course.code == "CACHE-1")).title_ja = "取り消される題"
        db_session.flush()
        db_session.rollback()
    assert generation(app) == before
    html, statements = fetch(app, chief, "/catalog/")
    assert statements == CACHED and "キャッシュ研修" in html and "取り消される題" not in html

    with app.app_context():
        db_session.scalar(select(Course).where(Course.code == "CACHE-1")).title_ja = "本当の題"
        db_session.commit()
    assert generation(app) != before
    assert "本当の題" in fetch(app, chief, "/catalog/")[0]


def test_a_page_rendered_by_a_session_that_wrote_is_never_kept(app, catalog):
    from flask_login import login_user

    with app.test_request_context("/catalog/"):
        login_user(db_session.get(Employee, catalog["chief"].id))
        db_session.scalar(select(Course).where(Course.code == "CACHE-1")).title_ja = "書きかけの題"
        db_session.flush()
        response = app.full_dispatch_request()
        assert "書きかけの題" in response.get_data(as_text=True)
        db_session.rollback()
    assert len(get_cache(app)) == 0
    html = fetch(app, signed_in(app, catalog["chief"]), "/catalog/")[0]
    assert "キャッシュ研修" in html and "書きかけの題" not in html


def test_the_generation_changes_once_per_commit_as_its_last_statement(app, catalog):
    """Enrolling works inside a savepoint: the token is replaced at the outermost commit only,
    after every other write, so on PostgreSQL its row lock is held for the commit alone."""
    before = generation(app)
    with app.app_context():
        person = factories.employee(grade_code="SHUNIN")
        with count_statements(app) as counter:
            factories.enrolment(person, db_session.get(TrainingSession, catalog["session"]))
    bumps = [s for s in counter.statements if s.lstrip().upper().startswith("UPDATE CACHE_GENERATIONS")]
    assert len(bumps) == 1 and counter.statements[-1] == bumps[0]
    after = generation(app)
    assert after != before and re.fullmatch(r"[0-9a-f]{32}", after)


def test_writes_no_page_shows_leave_the_cache_alone(app, catalog):
    chief = signed_in(app, catalog["chief"])
    fetch(app, chief, "/catalog/")
    stranger = app.test_client()
    assert factories.login(stranger, catalog["section_head"].employee_number, "wrong-password").status_code == 401
    assert fetch(app, chief, "/catalog/")[1] == CACHED  # a failed sign-in is counted, not shown


# --- never another person's page -------------------------------------------------------------


def test_managers_never_see_each_others_team_page(app, teams):
    somu, fukushi = signed_in(app, teams["somu_head"]), signed_in(app, teams["fukushi_head"])
    for _round in range(2):  # rendered, then from the cache
        somu_page, fukushi_page = fetch(app, somu, "/team")[0], fetch(app, fukushi, "/team")[0]
        assert "青木 一郎" in somu_page and "木村 陽子" not in somu_page
        assert "木村 陽子" in fukushi_page and "青木 一郎" not in fukushi_page
    assert fetch(app, somu, "/team")[1] == CACHED
    staff = signed_in(app, teams["aoki"])
    assert staff.get("/team").status_code == 403  # heads no unit: no page, cached or not


def test_people_of_different_grades_each_see_their_own_catalog(app, catalog):
    chief, head = signed_in(app, catalog["chief"]), signed_in(app, catalog["section_head"])
    for _round in range(2):
        assert "あなたの職級向け" in card(fetch(app, chief, "/catalog/")[0], "キャッシュ研修")
        assert "あなたの職級向け" not in card(fetch(app, head, "/catalog/")[0], "キャッシュ研修")
        assert "主任 一郎" in fetch(app, chief, "/catalog/")[0]
        assert "主任 一郎" not in fetch(app, head, "/catalog/")[0]


def test_the_same_person_in_two_browsers_gets_each_browsers_own_csrf_token(app, catalog):
    first, second = signed_in(app, catalog["chief"]), signed_in(app, catalog["chief"])
    fetch(app, first, "/catalog/")
    _html, statements = fetch(app, second, "/catalog/")
    assert statements == CACHED  # the same person's page, with this browser's token put in
    first_token, second_token = factories.csrf_token(first, "/catalog/"), factories.csrf_token(second, "/catalog/")
    assert first_token != second_token
    assert second.post("/locale", data={"csrf_token": first_token, "locale": "ja"}).status_code == 400
    assert second.post("/locale", data={"csrf_token": second_token, "locale": "ja"}).status_code == 302


def test_losing_access_wins_over_a_cached_page(app, catalog, teams):
    from app.auth.login import MUST_CHANGE_KEY
    from app.org.services import set_unit_head

    head = signed_in(app, teams["somu_head"])
    fetch(app, head, "/team")
    with app.app_context():
        unit = db_session.scalar(select(Unit).where(Unit.head_id == teams["somu_head"].id))
        set_unit_head(None, unit, None)
        db_session.commit()
    assert head.get("/team").status_code == 403

    chief = signed_in(app, catalog["chief"])
    fetch(app, chief, "/catalog/")
    with chief.session_transaction() as session:
        session[MUST_CHANGE_KEY] = True
    assert chief.get("/catalog/").headers["Location"] == "/account/password"
    with chief.session_transaction() as session:
        session[MUST_CHANGE_KEY] = False
    assert fetch(app, chief, "/catalog/")[1] == CACHED
    with app.app_context():
        db_session.get(Employee, catalog["chief"].id).is_active = False
        db_session.commit()
    assert chief.get("/catalog/").headers["Location"].startswith("/login")


def test_flashed_messages_are_shown_once_and_never_kept(app, catalog):
    chief = signed_in(app, catalog["chief"])
    fetch(app, chief, "/catalog/")
    with chief.session_transaction() as session:
        session["_flashes"] = [("success", "一度だけのお知らせ")]
    assert "一度だけのお知らせ" in fetch(app, chief, "/catalog/")[0]
    html, statements = fetch(app, chief, "/catalog/")
    assert "一度だけのお知らせ" not in html and statements == CACHED


# --- time and bounds -------------------------------------------------------------------------


def test_a_cached_page_lives_a_minute_so_a_started_session_drops_off(app, catalog):
    with time_machine.travel(now(), tick=False) as traveller:
        with app.app_context():
            course = factories.course("SOON-1", title_ja="まもなく始まる研修")
            factories.training_session(course, starts_in=timedelta(seconds=150), closes_before=timedelta(0),
                                       cancel_before=timedelta(0))
        chief = signed_in(app, catalog["chief"])
        assert "残り 30 席" in card(fetch(app, chief, "/catalog/")[0], "まもなく始まる研修")
        traveller.shift(timedelta(seconds=30))
        assert fetch(app, chief, "/catalog/")[1] == CACHED
        traveller.shift(timedelta(minutes=5))  # the session has started; the page is past its minute
        html, statements = fetch(app, chief, "/catalog/")
        assert statements > CACHED and "残り 30 席" not in card(html, "まもなく始まる研修")


def page(n: int, query: str = "") -> PageKey:
    return PageKey("catalog.index", "/catalog/", query.encode(), str(n), None, "ja", "2026-11-24", "0" * 32)


def test_the_cache_is_bounded_in_entries_and_bytes():
    cache = PageCache(max_entries=3, max_bytes=10_000)
    for n in range(5):
        cache.put(page(n), b"x" * 100, expires_at=100.0)
    assert len(cache) == 3 and cache.get(page(0), 0.0) is None
    assert cache.get(page(2), 0.0) is not None  # now the most recently used
    cache.put(page(5), b"x" * 100, expires_at=100.0)
    assert cache.get(page(2), 0.0) is not None and cache.get(page(3), 0.0) is None

    cache.clear()
    for n in range(4):
        cache.put(page(n), b"x" * 4000, expires_at=100.0)
    assert len(cache) == 2 and cache.size_bytes <= cache.max_bytes
    cache.put(page(9), b"x" * 20_000, expires_at=100.0)  # bigger than the whole cache: not kept
    assert cache.get(page(9), 0.0) is None and len(cache) == 2
    cache.put(page(8, "q=" + "長" * 3000), b"x" * 100, expires_at=100.0)  # a long URL counts as well
    assert len(cache) == 1 and cache.size_bytes <= cache.max_bytes
    assert cache.get(page(8, "q=" + "長" * 3000), 100.0) is None and len(cache) == 0  # expired
    assert cache.size_bytes == 0


def test_the_apps_cache_keeps_at_most_its_limit_of_pages(app, catalog, monkeypatch):
    cache = get_cache(app)
    monkeypatch.setattr(cache, "max_entries", 3)
    chief = signed_in(app, catalog["chief"])
    for n in range(6):
        fetch(app, chief, f"/catalog/?q=研修{n}")
    assert len(cache) == 3
    assert fetch(app, chief, "/catalog/?q=研修5")[1] == CACHED
    assert fetch(app, chief, "/catalog/?q=研修0")[1] > CACHED


def test_switched_off_the_pages_render_every_time(app, catalog, no_page_cache):
    chief = signed_in(app, catalog["chief"])
    fetch(app, chief, "/catalog/")
    assert fetch(app, chief, "/catalog/")[1] > CACHED
    assert len(get_cache(app)) == 0


# --- across workers ---------------------------------------------------------------------------


def test_a_write_in_one_worker_shows_in_another_at_once(make_database_url, tmp_path):
    """Two app instances on one committed database stand for two gunicorn workers, each with its
    own cache: what one commits, the other shows on its next request; what one rolls back, neither does."""
    from tests.conftest import build_app, migrate

    url = make_database_url()
    workers = [build_app(url, tmp_path), build_app(url, tmp_path)]
    try:
        migrate(workers[0])
        with workers[0].app_context():
            from app.org.reference import ensure_grades

            ensure_grades()
            db_session.commit()
            chief = factories.employee(grade_code="SHUNIN")
            session_id = factories.training_session(factories.course("TWO-1", title_ja="二つの窓口の研修"),
                                                    capacity=5).id
        reader, writer = signed_in(workers[0], chief), signed_in(workers[1], chief)
        assert "残り 5 席" in card(fetch(workers[0], reader, "/catalog/")[0], "二つの窓口の研修")
        assert fetch(workers[0], reader, "/catalog/")[1] == CACHED

        with workers[1].app_context():
            db_session.scalar(select(Course).where(Course.code == "TWO-1")).title_ja = "取り消される題"
            db_session.flush()
            db_session.rollback()
        assert fetch(workers[0], reader, "/catalog/")[1] == CACHED

        token = factories.csrf_token(writer, "/catalog/")
        assert writer.post(f"/sessions/{session_id}/enrol", data={"csrf_token": token}).status_code == 302
        html, statements = fetch(workers[0], reader, "/catalog/")
        assert statements > CACHED and "残り 4 席" in card(html, "二つの窓口の研修")
    finally:
        for worker in workers:
            worker.extensions["manabi.engine"].dispose()


def test_committing_with_a_savepoint_still_open_replaces_the_generation_once(app, catalog):
    before = generation(app)
    with app.app_context():
        db_session.begin_nested()
        db_session.scalar(select(Course).where(Course.code == "CACHE-1")).title_ja = "途中の題"
        with count_statements(app) as counter:
            db_session.commit()  # releases the savepoint, then commits the whole transaction
    bumps = [s for s in counter.statements if s.lstrip().upper().startswith("UPDATE CACHE_GENERATIONS")]
    assert len(bumps) == 1 and counter.statements[-1] == bumps[0]
    assert generation(app) != before
