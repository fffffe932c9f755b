"""A new session's form offers its dates: a first meeting four weeks ahead to overwrite, enrolment
open from today 9:00, closing 5 and cancellable until 3 working days (開庁日: no weekends, holidays or
the year-end closure) before the first meeting, at 17:00. Deadlines left as offered move with the
meetings; deadlines typed stay as typed, and the server still refuses an order that does not fit."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core.clock import TOKYO
from app.core.db import db_session
from app.org.models import RoleName
from app.scheduling import deadlines
from app.scheduling.models import TrainingSession
from tests import factories
from tests.form_pages import field_errors

# Friday 10 April 2026, 10:00 in Japan. Four weeks on is Friday 8 May, just after Golden Week
# (29 April, and 3–6 May are holidays), which the working days skip.
PINNED = datetime(2026, 4, 10, 10, 0, tzinfo=TOKYO)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def pinned() -> Iterator[None]:
    with time_machine.travel(PINNED, tick=False):
        yield


@pytest.fixture
def hr(app: Flask, client: FlaskClient, pinned: None) -> FlaskClient:
    with app.app_context():
        factories.course("DEADLINES-1", title_ja="締切の研修")
        person = factories.employee(roles=(RoleName.HR,))
    factories.login_as(client, person)
    return client


def _value(page: str, name: str) -> str:
    tag = re.search(rf'<(?:input|textarea)[^>]*\bname="{name}"[^>]*>([^<]*)', page)
    assert tag, name
    if tag.group(0).startswith("<textarea"):
        return tag.group(1).strip()
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def _form(page: str, **changes: str) -> dict[str, str]:
    """The form as the page shows it, with `changes` typed over it."""
    names = ("meetings", "enrolment_opens_at", "enrolment_closes_at", "cancellation_deadline_at", "deadlines_for")
    data = {name: _value(page, name) for name in names}
    data.update(label="第1回", location="県庁 研修室A", capacity="20", approval_policy="manager",
                min_presence_pct="80", instructors="", notes="")
    data.update(changes)
    return data


def _saved(app: Flask) -> TrainingSession:
    with app.app_context():
        found = db_session.scalars(select(TrainingSession).where(TrainingSession.label == "第1回")).one()
        db_session.expunge(found)
        return found


def test_the_computed_dates_skip_weekends_holidays_and_the_year_end_closure() -> None:
    assert deadlines.enrolment_opens(PINNED.date()) == at(2026, 4, 10, 9)
    assert deadlines.suggested_meeting(PINNED.date()) == (at(2026, 5, 8, 13, 30), at(2026, 5, 8, 17))
    first = at(2026, 5, 8, 13, 30)
    assert deadlines.enrolment_closes(first) == at(2026, 4, 27, 17)  # 7 May, 1 May, 30 and 28 April, 27 April
    assert deadlines.cancellation_deadline(first) == at(2026, 4, 30, 17)
    after_new_year = at(2027, 1, 5, 13, 30)  # 29 December – 3 January is closed
    assert deadlines.enrolment_closes(after_new_year) == at(2026, 12, 23, 17)
    assert deadlines.cancellation_deadline(after_new_year) == at(2026, 12, 25, 17)


def test_the_new_session_form_is_filled_in_and_says_how(hr: FlaskClient) -> None:
    page = hr.get("/sessions/course/DEADLINES-1/new").get_data(as_text=True)
    assert _value(page, "meetings") == "2026-05-08 13:30-17:00"
    assert _value(page, "enrolment_opens_at") == "2026-04-10T09:00"
    assert _value(page, "enrolment_closes_at") == "2026-04-27T17:00"
    assert _value(page, "cancellation_deadline_at") == "2026-04-30T17:00"
    assert "今日の9:00を入れてあります。保存するとすぐに申込を受け付けます。" in page
    assert "初回の5開庁日前の17:00を入れてあります。" in page
    assert "初回の3開庁日前の17:00を入れてあります。" in page
    assert "4週間後の候補日を入れてあります。" in page


def test_deadlines_left_as_offered_move_with_the_meetings(app: Flask, hr: FlaskClient) -> None:
    page = hr.get("/sessions/course/DEADLINES-1/new").get_data(as_text=True)
    response = factories.post(hr, "/sessions/course/DEADLINES-1/new",
                              _form(page, meetings="2026-06-10 13:30-17:00\n2026-06-17 13:30-17:00"),
                              form_page="/sessions/course/DEADLINES-1/new")
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    saved = _saved(app)
    assert saved.enrolment_opens_at == at(2026, 4, 10, 9)
    assert saved.enrolment_closes_at == at(2026, 6, 3, 17)  # 5 working days before Wednesday 10 June
    assert saved.cancellation_deadline_at == at(2026, 6, 5, 17)


def test_deadlines_typed_or_emptied(app: Flask, hr: FlaskClient) -> None:
    """A deadline typed stays as typed when the meetings change; one emptied is computed."""
    page = hr.get("/sessions/course/DEADLINES-1/new").get_data(as_text=True)
    response = factories.post(hr, "/sessions/course/DEADLINES-1/new", _form(
        page, meetings="2026-06-10 13:30-17:00", enrolment_opens_at="", enrolment_closes_at="2026-05-29T12:00",
        cancellation_deadline_at=""), form_page="/sessions/course/DEADLINES-1/new")
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    saved = _saved(app)
    assert saved.enrolment_opens_at == at(2026, 4, 10, 9)
    assert saved.enrolment_closes_at == at(2026, 5, 29, 12)
    assert saved.cancellation_deadline_at == at(2026, 6, 5, 17)


def test_a_typed_deadline_after_the_moved_meeting_is_refused_by_name(app: Flask, hr: FlaskClient) -> None:
    page = hr.get("/sessions/course/DEADLINES-1/new").get_data(as_text=True)
    response = factories.post(hr, "/sessions/course/DEADLINES-1/new", _form(
        page, meetings="2026-04-28 13:30-17:00", enrolment_closes_at="2026-05-01T17:00"),
        form_page="/sessions/course/DEADLINES-1/new")
    assert response.status_code == 400
    shown = response.get_data(as_text=True)
    assert field_errors(shown)["enrolment_closes_at"].startswith("申込締切: ")
    assert _value(shown, "enrolment_closes_at") == "2026-05-01T17:00"  # as typed, to correct
    # the untouched cancellation deadline has moved with the meeting: 3 working days before 28 April
    assert _value(shown, "cancellation_deadline_at") == "2026-04-23T17:00"
    with app.app_context():
        assert db_session.scalar(select(TrainingSession).where(TrainingSession.label == "第1回")) is None


def test_the_edit_page_keeps_the_sessions_own_deadlines(app: Flask, hr: FlaskClient) -> None:
    """Only a new session's offered values move with the meetings; an existing session's stay."""
    page = hr.get("/sessions/course/DEADLINES-1/new").get_data(as_text=True)
    assert factories.post(hr, "/sessions/course/DEADLINES-1/new", _form(page),
                          form_page="/sessions/course/DEADLINES-1/new").status_code == 302
    session_id = _saved(app).id
    edit = hr.get(f"/sessions/{session_id}/edit").get_data(as_text=True)
    assert _value(edit, "deadlines_for") == ""
    assert "空欄の場合：初回の5開庁日前の17:00。" in edit
    response = factories.post(hr, f"/sessions/{session_id}/edit",
                              _form(edit, meetings="2026-05-15 13:30-17:00"), form_page=f"/sessions/{session_id}/edit")
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    saved = _saved(app)
    assert (saved.enrolment_closes_at, saved.cancellation_deadline_at) == (at(2026, 4, 27, 17), at(2026, 4, 30, 17))
