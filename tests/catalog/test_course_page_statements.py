"""The course page and the catalog cost a fixed number of SQL statements, however many sessions,
meetings and instructors a course has (issue 16: an enrolment morning is many people on these pages)."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from app.catalog.models import Course
from app.core.db import db_session
from app.org.models import Employee
from tests import factories
from tests.querycount import count_statements

_CARD = re.compile(r'<li class="session-card">')
_MEETINGS = re.compile(r'<ul class="meetings">(.*?)</ul>', re.S)
_INDEX_SESSIONS = re.compile(r'<ul class="session-list">(.*?)</ul>', re.S)


def _teachers(n: int) -> list[Employee]:
    return [factories.employee(grade_code="KACHO") for _ in range(n)]


def test_course_page_statement_count_does_not_grow_with_sessions(
        app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        viewer = factories.employee(grade_code="SHUNIN")
        others = [factories.employee(grade_code="SHUNIN") for _ in range(4)]
        course = factories.course("PAGE-1", title_ja="日程の多い研修", grades=("SHUNIN", "KACHO"))
        # One session, full: someone else holds its only seat, the viewer waits (no. 1).
        first = factories.training_session(course, capacity=1, meetings=3, instructors=_teachers(2), label="第1回")
        factories.enrolment(others[0], first)
        waiting_id = factories.enrolment(viewer, first).id
        course_id, other_ids = course.id, [o.id for o in others]
    factories.login_as(client, viewer)
    client.get("/catalog/courses/PAGE-1")  # warm-up (session user load etc.)
    with count_statements(app) as few:
        html = client.get("/catalog/courses/PAGE-1").get_data(as_text=True)
    assert len(_CARD.findall(html)) == 1 and "キャンセル待ち 1番目" in html

    with app.app_context():
        course = db_session.get(Course, course_id)
        others = [db_session.get(Employee, i) for i in other_ids]
        later = [factories.training_session(course, starts_in=timedelta(days=20 + i), capacity=1 + i % 2,
                                            meetings=3, instructors=_teachers(2), label=f"第{i + 2}回")
                 for i in range(11)]
        # Others hold places and wait in the later sessions too (one live request each per course).
        factories.enrolment(others[1], later[0])
        factories.enrolment(others[2], later[0])  # waitlisted: later[0] has one seat
        factories.enrolment(others[3], later[1])
        free_id = later[5].id  # two seats, none taken
    with count_statements(app) as many:
        html = client.get("/catalog/courses/PAGE-1").get_data(as_text=True)
    assert len(_CARD.findall(html)) == 12
    assert [m.count("<li>") for m in _MEETINGS.findall(html)] == [3] * 12
    assert "キャンセル待ち 1番目" in html
    assert many.count == few.count, (few.count, many.count, many.statements)
    # course, programme items, target grades, prerequisites, assignment, my enrolments, sessions, their
    # meetings (one statement for all), programmes containing it, waitlist places: 10; and the
    # signed-in user with their roles, the units they head and the unread count (1 to 3 statements).
    assert many.count <= 13, (many.count, many.statements)

    # The viewer gives up the waitlist and takes a seat (one live request per person and course, so a
    # place and a waitlist position are shown one after the other): no more statements for a place.
    response = factories.post(client, f"/enrolments/{waiting_id}/cancel", {"reason": "日程変更"})
    assert response.status_code == 302
    response = factories.post(client, f"/sessions/{free_id}/enrol", {"next": "/catalog/courses/PAGE-1"},
                              form_page="/catalog/courses/PAGE-1")
    assert response.status_code == 302
    with count_statements(app) as placed:
        html = client.get("/catalog/courses/PAGE-1").get_data(as_text=True)
    assert "受講確定" in html and "キャンセル待ち 1番目" not in html
    assert placed.count <= many.count, (placed.count, placed.statements)


def test_catalog_statement_count_does_not_grow_with_sessions_per_course(
        app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        viewer = factories.employee(grade_code="SHUNIN")
        factories.training_session(factories.course(title_ja="日程一つ"), meetings=1)
    factories.login_as(client, viewer)
    client.get("/catalog/")  # warm-up
    with count_statements(app) as few:
        html = client.get("/catalog/").get_data(as_text=True)
    assert [s.count("<li>") for s in _INDEX_SESSIONS.findall(html)] == [1]

    with app.app_context():
        for n in range(8):
            c = factories.course(title_ja=f"日程の多い研修{n}", grades=("SHUNIN", "KACHO", "HOSA"))
            for i in range(4):  # one more than the page shows
                factories.training_session(c, starts_in=timedelta(days=14 + i), meetings=3,
                                           instructors=_teachers(2))
    with count_statements(app) as many:
        html = client.get("/catalog/").get_data(as_text=True)
    assert sorted(s.count("<li>") for s in _INDEX_SESSIONS.findall(html)) == [1] + [3] * 8
    assert many.count == few.count, (few.count, many.count, many.statements)
    # user, roles, count, page, target grades, grades, years, assignments, sessions, unread count, units
    assert many.count <= 12, (many.count, many.statements)
