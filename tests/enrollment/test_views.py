"""Enrolment through the pages: course page → request → approvals → My learning."""
from __future__ import annotations

import re

import pytest

from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import RoleName
from tests import factories
from tests.confirming import press_confirm
from tests.querycount import count_statements


@pytest.fixture
def setup(app):
    with app.app_context():
        division = factories.unit("データ活用推進課")
        manager = factories.employee(division, "KACHO", heads=division)
        staff = [factories.employee(division, "SHUNIN") for _ in range(3)]
        course = factories.course("DX-1", title_ja="主任級デジタル研修")
        session = factories.training_session(course, capacity=2, policy="manager", label="第1回")
        return {"manager": manager, "staff": staff, "course": course.code, "session": session.id}


def test_request_approve_and_see_it_confirmed(app, client, setup):
    employee = setup["staff"][0]
    factories.login_as(client, employee)
    page = client.get("/catalog/courses/DX-1").get_data(as_text=True)
    assert "参加を申し込む" in page and "残り 2 席" in page
    token = factories.csrf_token(client, "/catalog/courses/DX-1")
    response = client.post(f"/sessions/{setup['session']}/enrol",
                           data={"csrf_token": token, "next": "/catalog/courses/DX-1"})
    assert response.headers["Location"] == "/catalog/courses/DX-1"
    page = client.get("/my-learning").get_data(as_text=True)
    assert "承認待ち" in page and "席を確保" in page

    manager = app.test_client()
    factories.login_as(manager, setup["manager"])
    approvals = manager.get("/approvals").get_data(as_text=True)
    enrolment_id = re.search(r'name="enrolment_id" value="(\d+)"', approvals).group(1)
    token = factories.csrf_token(manager, "/approvals")
    response = manager.post("/approvals", data={"csrf_token": token, "enrolment_id": enrolment_id, "action": "approve"})
    assert response.status_code == 302
    assert "1 件の申込を承認しました" in manager.get("/approvals").get_data(as_text=True)

    page = client.get("/my-learning").get_data(as_text=True)
    upcoming = page.split('id="upcoming-heading"')[1].split("</section>")[0]
    assert "主任級デジタル研修" in upcoming and "受講確定" in upcoming


def test_bulk_decline_needs_a_reason_and_frees_seats(app, client, setup):
    for person in setup["staff"]:
        c = app.test_client()
        factories.login_as(c, person)
        factories.post(c, f"/sessions/{setup['session']}/enrol", form_page="/my-learning")
    factories.login_as(client, setup["manager"])
    page = client.get("/approvals").get_data(as_text=True)
    ids = re.findall(r'name="enrolment_id" value="(\d+)"', page)
    assert len(ids) == 3
    token = factories.csrf_token(client, "/approvals")
    response = client.post("/approvals", data={"csrf_token": token, "enrolment_id": ids[:2], "action": "decline"})
    assert response.status_code == 302
    assert "却下の理由を入力してください" in client.get("/approvals").get_data(as_text=True)
    client.post("/approvals", data={"csrf_token": token, "enrolment_id": ids[:2], "action": "decline",
                                    "reason": "今回は業務繁忙のため"})
    remaining = re.findall(r'name="enrolment_id" value="(\d+)"', client.get("/approvals").get_data(as_text=True))
    assert remaining == [ids[2]]
    assert "確保済み" in client.get("/approvals").get_data(as_text=True)  # the third now holds a freed seat


def test_manager_cannot_approve_another_units_request_by_posting_its_id(app, client, setup):
    with app.app_context():
        other_division = factories.unit("水産振興課")
        other_manager = factories.employee(other_division, "KACHO", heads=other_division)
    employee = app.test_client()
    factories.login_as(employee, setup["staff"][0])
    factories.post(employee, f"/sessions/{setup['session']}/enrol", form_page="/my-learning")
    factories.login_as(client, setup["manager"])
    approvals = client.get("/approvals").get_data(as_text=True)
    enrolment_id = re.search(r'name="enrolment_id" value="(\d+)"', approvals).group(1)
    outsider = app.test_client()
    factories.login_as(outsider, other_manager)
    token = factories.csrf_token(outsider, "/approvals")
    response = outsider.post("/approvals",
                             data={"csrf_token": token, "enrolment_id": enrolment_id, "action": "approve"})
    assert response.status_code == 403
    assert outsider.get(f"/enrolments/{enrolment_id}").status_code == 403


def test_hr_enrols_a_pasted_list_and_sees_who_could_not_be_enrolled(app, client, setup):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        kacho = factories.employee(grade_code="KACHO")
    factories.login_as(client, hr)
    numbers = "\n".join([setup["staff"][0].employee_number, setup["staff"][1].employee_number,
                         kacho.employee_number, "999999"])
    token = factories.csrf_token(client, f"/sessions/{setup['session']}/enrolments")
    preview = client.post(f"/sessions/{setup['session']}/enrol-many", data={"csrf_token": token, "numbers": numbers})
    page = press_confirm(client, preview).get_data(as_text=True)
    assert "2 人を申し込み、2 人は申し込めませんでした" in page
    assert "999999" in page and "職級の対象ではありません" in page


def test_my_learning_and_approvals_statement_counts_do_not_grow(app, client, setup):
    with app.app_context():
        manager = factories.employee(factories.unit("大きな課"), "KACHO")
        division = manager.unit
        division.head_id = manager.id
        db_session.commit()
        people = [factories.employee(division, "SHUNIN") for _ in range(8)]
        sessions = [factories.training_session(factories.course(), policy="manager", capacity=1) for _ in range(6)]
    for index, person in enumerate(people):
        c = app.test_client()
        factories.login_as(c, person)
        for session in sessions[: 1 + index % 6]:
            factories.post(c, f"/sessions/{session.id}/enrol", form_page="/my-learning")
    factories.login_as(client, manager)
    client.get("/approvals")
    with count_statements(app) as counter:
        html = client.get("/approvals").get_data(as_text=True)
    assert len(re.findall(r'name="enrolment_id"', html)) > 20
    assert counter.count <= 8, counter.statements
    heavy = app.test_client()
    factories.login_as(heavy, people[5])
    heavy.get("/my-learning")
    with count_statements(app) as counter:
        heavy.get("/my-learning")
    assert counter.count <= 11, counter.statements  # fixed: independent of how many enrolments


def test_a_cancel_reason_with_a_control_character_is_refused_with_a_message(app, client):  # type: ignore[no-untyped-def]
    with app.app_context():
        person = factories.employee(factories.unit("理由検証課"))
        place_id = factories.enrolment(person, factories.training_session(factories.course())).id
    factories.login_as(client, person)
    response = factories.post(client, f"/enrolments/{place_id}/cancel", {"reason": "都合\u202eにより"})
    assert response.status_code == 302
    page = client.get(f"/enrolments/{place_id}").get_data(as_text=True)
    assert "U+202E" in page
    with app.app_context():
        assert db_session.get(Enrolment, place_id).is_active
