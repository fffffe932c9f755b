"""The catalog's course cards: the shared part is rendered once per content, and is never stale
(app/catalog/cards.py), while each reader's own badges stay their own."""
from __future__ import annotations

import re

import pytest

from app.catalog.models import Course
from app.core.db import db_session
from tests import factories


@pytest.fixture
def readers(app):
    with app.app_context():
        factories.course("CARD-1", title_ja="データ活用入門", title_en="Data basics", grades=("SHUNIN",), hours=3)
        return factories.employee(grade_code="SHUNIN"), factories.employee(grade_code="KACHO")


def card(html: str) -> str:
    found = re.search(r'<li class="card">(.*?)</li>\s*(?:<li class="card">|</ul>)', html, re.S)
    assert found, html
    return found.group(1)


def seats(html: str) -> list[str]:
    found = re.search(r'<ul class="session-list">(.*?)</ul>', html, re.S)
    assert found, html
    return re.findall(r"<li>[^<]*— ([^<]+)</li>", found.group(1))


def test_an_edited_course_shows_its_new_facts_at_once(app, client, readers):
    shunin, _ = readers
    factories.login_as(client, shunin)
    before = card(client.get("/catalog/").get_data(as_text=True))
    assert "データ活用入門" in before and "3.0" in before and "主任" in before
    with app.app_context():
        course = db_session.query(Course).filter_by(code="CARD-1").one()
        course.title_ja, course.hours = "データ活用入門（改訂）", 4.5
        course.target_grades = [factories.grade("KACHO"), factories.grade("SHUNIN")]
        db_session.commit()
    after = card(client.get("/catalog/").get_data(as_text=True))
    assert "データ活用入門（改訂）" in after and "4.5" in after and "課長" in after


def test_the_same_card_is_read_in_each_readers_language(app, client, readers):
    shunin, kacho = readers
    with app.app_context():
        db_session.merge(kacho).locale = "en"
        db_session.commit()
    factories.login_as(client, shunin)
    japanese = card(client.get("/catalog/").get_data(as_text=True))
    factories.post(client, "/logout")
    factories.login_as(client, kacho)
    english = card(client.get("/catalog/").get_data(as_text=True))
    assert "データ活用入門" in japanese and "対象" in japanese and "3.0 時間" in japanese
    assert "Data basics" in english and "Target" in english and "3.0 hours" in english
    assert "データ活用入門" not in english


def test_badges_that_are_the_readers_own_are_not_shared(app, client, readers):
    shunin, kacho = readers
    factories.login_as(client, shunin)
    assert "badge--ok" in card(client.get("/catalog/").get_data(as_text=True))  # for your grade
    factories.post(client, "/logout")
    factories.login_as(client, kacho)
    assert "badge--ok" not in card(client.get("/catalog/").get_data(as_text=True))


def test_a_card_lists_the_next_three_sessions_with_the_seats_left_now(app, client, readers):
    from datetime import timedelta

    from app.scheduling.models import TrainingSession

    shunin, _ = readers
    with app.app_context():
        course = db_session.query(Course).filter_by(code="CARD-1").one()
        full = factories.training_session(course, starts_in=timedelta(days=10), capacity=1)
        factories.enrolment(factories.employee(), full)
        factories.training_session(course, starts_in=timedelta(days=20), capacity=12)
        factories.training_session(course, starts_in=timedelta(days=30), capacity=8)
        factories.training_session(course, starts_in=timedelta(days=40), capacity=5)  # the fourth: not listed
        db_session.commit()
        eight_seats = db_session.query(TrainingSession).filter_by(capacity=8).one()
    factories.login_as(client, shunin)
    listed = seats(client.get("/catalog/").get_data(as_text=True))
    assert listed == ["満席（キャンセル待ち可）", "残り 12 席", "残り 8 席"], listed
    with app.app_context():  # seats taken elsewhere show on the next view: they are never cached
        factories.enrolment(factories.employee(), db_session.merge(eight_seats))
        db_session.commit()
    assert seats(client.get("/catalog/").get_data(as_text=True))[2] == "残り 7 席"
