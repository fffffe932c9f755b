"""What the enrolment pages post goes through their forms (app/enrollment/forms.py): `next` is a
field that still passes app/web/redirects.safe_next, and the ticked `enrolment_id`s are a field
whose values that are not ids are left out."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from tests import factories


@pytest.fixture
def setup(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("次画面検証課")
        manager = factories.employee(division, "KACHO", heads=division)
        staff = [factories.employee(division, "SHUNIN") for _ in range(2)]
        course = factories.course("NEXT-1", title_ja="戻り先の研修")
        session = factories.training_session(course, capacity=5, policy="manager")
        return {"manager": manager, "staff": staff, "session": session.id}


def _signed_in(app, person):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, person)
    return client


@pytest.mark.parametrize(("next_page", "location"), [
    ("/catalog/courses/NEXT-1", "/catalog/courses/NEXT-1"),
    ("https://evil.example/phish", "/my-learning"),
    ("//evil.example/phish", "/my-learning"),
    ("/\\evil.example", "/my-learning"),
    ("", "/my-learning"),
    (None, "/my-learning"),
])
def test_enrol_goes_back_only_to_a_page_of_this_site(app, setup, next_page, location):
    client = _signed_in(app, setup["staff"][0])
    data = {} if next_page is None else {"next": next_page}
    response = factories.post(client, f"/sessions/{setup['session']}/enrol", data, form_page="/my-learning")
    assert response.status_code == 302 and response.headers["Location"] == location


def _requests(app, setup) -> list[int]:  # type: ignore[no-untyped-def]
    for person in setup["staff"]:
        factories.post(_signed_in(app, person), f"/sessions/{setup['session']}/enrol", form_page="/my-learning")
    with app.app_context():
        return list(db_session.scalars(select(Enrolment.id).where(Enrolment.session_id == setup["session"])
                                       .order_by(Enrolment.id)))


def _state(app, enrolment_id: int) -> EnrolmentState:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.get(Enrolment, enrolment_id).state


@pytest.mark.parametrize(("next_page", "where"), [
    ("detail", "detail"), ("https://evil.example/", "/approvals"), ("//evil.example", "/approvals")])
def test_a_decision_from_the_request_page_goes_back_to_it_and_nowhere_else(app, setup, next_page, where):
    first, _second = _requests(app, setup)
    manager = _signed_in(app, setup["manager"])
    detail = f"/enrolments/{first}"
    page = manager.get(detail).get_data(as_text=True)
    assert f'name="next" value="{detail}"' in page and f'name="enrolment_id" value="{first}"' in page
    response = factories.post(manager, "/approvals", {"enrolment_id": str(first), "action": "approve",
                                                      "next": detail if next_page == "detail" else next_page},
                              form_page=detail)
    assert response.status_code == 302
    assert response.headers["Location"] == (detail if where == "detail" else where)
    assert _state(app, first) == EnrolmentState.CONFIRMED


def test_ticked_values_that_are_not_ids_are_left_out(app, setup):
    first, second = _requests(app, setup)
    manager = _signed_in(app, setup["manager"])
    assert len(re.findall(r'name="enrolment_id"', manager.get("/approvals").get_data(as_text=True))) == 2
    ticked = ["x", "0", "-3", "２１４７４８３６４８", str(second), str(second)]  # the big one: ID_MAX + 1
    response = factories.post(manager, "/approvals", {"enrolment_id": ticked, "action": "decline",
                                                      "reason": "定員調整のため"}, form_page="/approvals")
    assert response.status_code == 302 and response.headers["Location"] == "/approvals"
    assert (_state(app, first), _state(app, second)) == (EnrolmentState.PENDING, EnrolmentState.DECLINED)


def test_nothing_ticked_is_said_and_changes_nothing(app, setup):
    first, second = _requests(app, setup)
    manager = _signed_in(app, setup["manager"])
    response = factories.post(manager, "/approvals", {"enrolment_id": ["abc"], "action": "approve"},
                              form_page="/approvals")
    assert response.status_code == 302
    assert "申込を1件以上選んでください。" in manager.get("/approvals").get_data(as_text=True)
    assert {_state(app, first), _state(app, second)} == {EnrolmentState.PENDING}


def test_a_decision_other_than_approve_or_decline_is_a_400(app, setup):
    first, _second = _requests(app, setup)
    manager = _signed_in(app, setup["manager"])
    response = factories.post(manager, "/approvals", {"enrolment_id": str(first), "action": "delete"},
                              form_page="/approvals")
    assert response.status_code == 400
    assert _state(app, first) == EnrolmentState.PENDING
