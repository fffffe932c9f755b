"""A check-in button on My learning and on the enrolment page while check-in is open for one of
the person's meetings (from 30 minutes before the start to the end), so that people joining online
need not type the address from the instructor's screen; after checking in it says so instead.
The pages read it in one statement, however many meetings are open."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from flask import Flask

from app.attendance.checkin_codes import current_code
from app.core.db import db_session
from app.org.models import Employee, RoleName
from tests import factories
from tests.querycount import count_statements

_BUTTON = re.compile(r'<a class="button" href="/attendance/check-in/(\d+)">出席を登録する')


def buttons(page: str) -> list[int]:
    return [int(m) for m in _BUTTON.findall(page)]


@pytest.fixture
def place(app: Flask):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("出席案内課")
        manager = factories.employee(division, "KACHO", heads=division)
        person = factories.employee(division, "SHUNIN")
        course = factories.course(title_ja="オンライン参加の研修")
        session = factories.training_session(course, starts_in=timedelta(days=3), meetings=2,
                                             online_url="https://meet.example.lg.jp/abc")
        enrolment = factories.enrolment(person, session)
        meetings = [(m.id, m.starts_at, m.ends_at) for m in session.meetings]
    return {"person": person, "manager": manager, "enrolment": enrolment.id, "meetings": meetings}


def signed_in(app: Flask, person):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, person)
    return client


def test_the_button_shows_while_check_in_is_open_and_leads_to_the_check_in_page(app: Flask, place) -> None:
    (first_id, starts_at, ends_at), _second = place["meetings"]
    detail = f"/enrolments/{place['enrolment']}"
    with time_machine.travel(starts_at - timedelta(minutes=31), tick=False):
        client = signed_in(app, place["person"])
        assert buttons(client.get("/my-learning").get_data(as_text=True)) == []
        assert buttons(client.get(detail).get_data(as_text=True)) == []
    for at in (starts_at - timedelta(minutes=30), starts_at + timedelta(hours=1), ends_at):
        with time_machine.travel(at, tick=False):
            client = signed_in(app, place["person"])
            page = client.get("/my-learning").get_data(as_text=True)
            assert buttons(page) == [first_id]  # the second meeting, a week later, is not open
            assert "出席登録（受付中）" in page and "オンライン参加の研修" in page
            assert buttons(client.get(detail).get_data(as_text=True)) == [first_id]
    with time_machine.travel(starts_at + timedelta(minutes=5), tick=False):
        client = signed_in(app, place["person"])
        check_in_page = client.get(f"/attendance/check-in/{first_id}")
        assert check_in_page.status_code == 200 and "出席コード" in check_in_page.get_data(as_text=True)
        code = current_code(app.config["SECRET_KEY"], first_id, starts_at + timedelta(minutes=5))[0]
        path = f"/attendance/check-in/{first_id}"
        assert factories.post(client, path, {"code": code}, form_page=path).status_code == 302
        page = client.get("/my-learning").get_data(as_text=True)
        assert buttons(page) == [] and "出席登録済み" in page
        assert "出席登録済み" in client.get(detail).get_data(as_text=True)

        manager = signed_in(app, place["manager"])  # may see the place, but it is not theirs to check in
        page = manager.get(detail)
        assert page.status_code == 200 and buttons(page.get_data(as_text=True)) == []
    with time_machine.travel(ends_at + timedelta(minutes=1), tick=False):
        client = signed_in(app, place["person"])
        assert "出席登録（受付中）" not in client.get("/my-learning").get_data(as_text=True)


def test_the_open_check_ins_cost_one_statement_however_many(app: Flask, place) -> None:
    _first_id, starts_at, _ends_at = place["meetings"][0]
    with time_machine.travel(starts_at, tick=False):
        client = signed_in(app, place["person"])
        client.get("/my-learning")
        with count_statements(app) as one:
            page = client.get("/my-learning").get_data(as_text=True)
        assert len(buttons(page)) == 1
    with app.app_context():
        person = db_session.get(Employee, place["person"].id)
        instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
        for n in range(2):  # two more courses meeting at the same time (one online, one in the room)
            session = factories.training_session(factories.course(title_ja=f"同時刻の研修{n}"),
                                                 starts_in=timedelta(days=3), instructors=[instructor])
            factories.enrolment(person, session)
    with time_machine.travel(starts_at, tick=False):
        client = signed_in(app, place["person"])
        with count_statements(app) as three:
            page = client.get("/my-learning").get_data(as_text=True)
        assert len(buttons(page)) == 3
    assert three.count == one.count, three.statements
