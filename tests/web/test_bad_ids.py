"""Bad ids are a 404, an ignored filter or a form error, never a 500 (issue 14, finding 8).

Every rule with an <int:...> argument is requested with ids that cannot exist (too big for the
columns, zero, negative, not numeric, non-ASCII digits), as HR and as an administrator; then the
query-string and form fields that carry ids or whole numbers get the same treatment on the pages
that read them. (app/assessment/views.py is left to its own tests.)
"""
from __future__ import annotations

import re
from datetime import UTC

import pytest
from werkzeug.exceptions import NotFound

from app.org.models import RoleName
from app.web.ids import ID_MAX, IdConverter, parse_id, parse_ids, parse_int
from tests import factories

HUGE = "99999999999999999999"
BAD_PATH_IDS = (HUGE, str(ID_MAX + 1), "0", "-1", "abc", "1.5", "٣", "²", "007")
BAD_FIELD_VALUES = ("abc", "", HUGE, "-1", "0", "²", "٣", "1e3", " ", "1_000")
_INT_ARGUMENT = re.compile(r"<int:(\w+)>")
_OTHER_ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>")


# --- the parsing helpers ----------------------------------------------------------------------


def test_parse_id_takes_digits_in_the_column_range_only():
    assert parse_id("1") == 1 and parse_id(" 42 ") == 42 and parse_id(str(ID_MAX)) == ID_MAX
    assert parse_int("１２") == 12  # as a Japanese input method types it
    for bad in (*BAD_FIELD_VALUES, str(ID_MAX + 1), None, 5, "+1", "0x10", "１２" * 6, "①"):
        assert parse_id(bad) is None, bad
    assert parse_int("0") == 0 and parse_int("30", maximum=30) == 30 and parse_int("31", maximum=30) is None
    assert parse_ids(["3", "x", "3", HUGE, "2", "²"]) == [3, 2]


def test_the_int_converter_is_bounded_in_every_rule(app):
    converters = [conv for rule in app.url_map.iter_rules() for conv in rule._converters.values()]
    assert any(isinstance(c, IdConverter) for c in converters)
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/enrolments/1")[1] == {"enrolment_id": 1}
    assert adapter.match(f"/enrolments/{ID_MAX}")[1] == {"enrolment_id": ID_MAX}
    for bad in BAD_PATH_IDS:  # no match at all: the view, and so the database, is never reached
        with pytest.raises(NotFound):
            adapter.match(f"/enrolments/{bad}")


# --- every route with an id in its path -------------------------------------------------------


def _int_rules(app) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(endpoint, method, rule) for every rule with an <int:...> argument."""
    found = []
    for rule in app.url_map.iter_rules():
        if not _INT_ARGUMENT.search(rule.rule):
            continue
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        found.append((rule.endpoint, method, rule.rule))
    return sorted(found)


def _path(rule: str, bad: str) -> str:
    return _OTHER_ARGUMENT.sub("x", _INT_ARGUMENT.sub(bad, rule))


@pytest.fixture
def staff(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("不正値課")
        people = {
            "hr": factories.employee(division, roles=(RoleName.HR,)),
            "admin": factories.employee(division, roles=(RoleName.ADMIN,)),
            "manager": factories.employee(division, "KACHO", heads=division),
            "member": factories.employee(division),
        }
        course = factories.course()
        session = factories.training_session(course)
        enrolment = factories.enrolment(people["member"], session)
        cohort = factories.cohort()
        return {"people": people, "session": session.id, "meeting": session.meetings[0].id,
                "enrolment": enrolment.id, "cohort": cohort.id, "course": course.id}


def test_there_are_routes_with_ids_to_check(app):
    endpoints = {endpoint for endpoint, _method, _rule in _int_rules(app)}
    assert {"enrollment.detail", "org.employee_detail", "cohorts.selection", "attendance.check_in",
            "completion.transcript_csv"} <= endpoints


def _api_headers(app, endpoint: str, person) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The JSON API's routes answer a token, not the cookie: one of every scope for `person`."""
    if not getattr(app.view_functions[endpoint], "_access", "").startswith("api:"):
        return {}
    from datetime import timedelta

    from app.api.tokens import create_token
    from app.core.clock import today
    from app.core.db import db_session
    from app.org.models import Employee

    with app.app_context():
        owner = db_session.get(Employee, person.id)
        secret = create_token(owner, "bad ids", ["read", "enrol"], today() + timedelta(days=1)).secret
        db_session.commit()
    return {"Authorization": f"Bearer {secret}", "If-Match": "*"}


@pytest.mark.parametrize("role", ["hr", "admin"])
def test_every_route_answers_404_to_an_id_that_cannot_exist(app, staff, role):
    client = app.test_client()
    factories.login_as(client, staff["people"][role])
    token = factories.csrf_token(client, "/account/password")
    failures = []
    for endpoint, method, rule in _int_rules(app):
        headers = _api_headers(app, endpoint, staff["people"][role])
        for bad in BAD_PATH_IDS:
            path = _path(rule, bad)
            if method == "GET":
                response = client.get(path, headers=headers)
            else:
                response = client.open(path, method=method, data={"csrf_token": token}, headers=headers)
            if response.status_code != 404:
                failures.append((endpoint, method, path, response.status_code))
    assert failures == []


@pytest.mark.parametrize("role", ["hr", "admin"])
def test_the_largest_id_reaches_the_view_and_finds_nothing(app, staff, role):
    client = app.test_client()
    factories.login_as(client, staff["people"][role])
    for endpoint, method, rule in _int_rules(app):
        if method != "GET":
            continue
        response = client.get(_path(rule, str(ID_MAX)), headers=_api_headers(app, endpoint, staff["people"][role]))
        assert response.status_code in (403, 404), (endpoint, response.status_code)


# --- ids and numbers in query strings ---------------------------------------------------------


QUERY_PAGES = {
    "hr": ["/org/staff?unit={v}", "/org/staff?grade={v}", "/org/staff?page={v}", "/catalog/?grade={v}",
           "/catalog/?fy={v}", "/catalog/?page={v}", "/catalog/design/?page={v}", "/reports/dashboard?fy={v}",
           "/reports/dashboard?fy={v}&half={v}", "/reports/drilldown?fy={v}", "/reports/plans?fy={v}",
           "/reports/half-year?fy={v}", "/reports/half-year.xlsx?fy={v}", "/reports/export/enrolments.csv?fy={v}",
           "/reports/export/enrolments.xlsx?fy={v}", "/admin/outbox?page={v}", "/notifications?page={v}",
           "/verify?code={v}"],
    "manager": ["/team?unit={v}", "/team?grade={v}", "/team/export.csv?unit={v}", "/team/export.xlsx?grade={v}"],
    "admin": ["/admin/audit/?page={v}"],
}


@pytest.mark.parametrize("role", sorted(QUERY_PAGES))
def test_a_bad_id_or_number_in_a_query_string_is_ignored(app, staff, role):
    client = app.test_client()
    factories.login_as(client, staff["people"][role])
    failures = []
    for template in QUERY_PAGES[role]:
        for value in BAD_FIELD_VALUES:
            path = template.format(v=value)
            status = client.get(path).status_code
            if status != 200 and not (path.startswith("/verify") and status == 404):
                failures.append((path, status))
    assert failures == []


# --- ids and numbers in forms -----------------------------------------------------------------


def _post(client, path: str, data: dict) -> int:  # type: ignore[no-untyped-def,type-arg]
    token = factories.csrf_token(client, "/account/password")
    return client.post(path, data={**data, "csrf_token": token}).status_code


@pytest.mark.parametrize("value", BAD_FIELD_VALUES)
def test_a_bad_id_or_number_in_a_form_is_a_form_error_or_a_404(app, staff, value):
    hr, manager = app.test_client(), app.test_client()
    factories.login_as(hr, staff["people"]["hr"])
    factories.login_as(manager, staff["people"]["manager"])
    cohort, meeting, session = staff["cohort"], staff["meeting"], staff["session"]
    statuses = {
        "approvals": _post(manager, "/approvals", {"enrolment_id": value, "action": "approve"}),
        "approvals (HR)": _post(hr, "/approvals", {"enrolment_id": [value, HUGE], "action": "decline", "reason": "x"}),
        "enrol-many grade": _post(hr, f"/sessions/{session}/enrol-many", {"grade": value}),
        "enrol-many unit": _post(hr, f"/sessions/{session}/enrol-many", {"unit": value}),
        "participants": _post(hr, f"/attendance/meetings/{meeting}/participants/apply", {"import_id": value}),
        "participant match": _post(hr, f"/attendance/meetings/{meeting}/participants/match",
                                   {"participant_id": value, "enrolment": value}),
        "endorsements": _post(manager, "/cohorts/endorsements", {"application_id": value, "decision": "endorse"}),
        "manage": _post(hr, "/cohorts/manage", {"programme": value, "quota": value, "name": "第1期",
                                                 "opens": "2026-04-01T09:00", "closes": "2026-04-20T17:00"}),
        "selection": _post(hr, f"/cohorts/{cohort}/selection", {"application_id": value, "action": "withdraw"}),
        "teams": _post(hr, f"/cohorts/{cohort}/teams", {"members": value, "host_unit": "nope"}),
        "milestones": _post(hr, f"/cohorts/{cohort}/milestones", {"milestone_id": value,
                                                                  "due_at": "2026-05-01T17:00"}),
        "reminder offsets": _post(hr, "/admin/outbox/settings", {"offsets": f"3, {value}"}),
        "plans": _post(hr, f"/reports/plans?fy={value}", {f"plan-{staff['course']}": value}),
        "check-in code": _post(hr, f"/attendance/check-in/{meeting}", {"code": value or "x"}),
    }
    allowed = {200, 302, 400, 404}
    assert {name: status for name, status in statuses.items() if status not in allowed} == {}
    # a refused value is never a success: nothing to find (404) or a message on the page
    assert statuses["endorsements"] == 404 and statuses["selection"] == 404
    assert statuses["manage"] == 400
    assert statuses["reminder offsets"] == (302 if value.strip() in ("", "0") else 400)


def test_the_manage_form_names_a_quota_too_large_to_store(app, staff):
    client = app.test_client()
    factories.login_as(client, staff["people"]["hr"])
    token = factories.csrf_token(client, "/cohorts/manage")
    response = client.post("/cohorts/manage", data={"quota": HUGE, "csrf_token": token})
    assert response.status_code == 400
    assert "100000" in response.get_data(as_text=True)


def test_a_check_in_code_in_full_width_digits_counts_and_other_digits_do_not():
    from datetime import datetime

    from app.attendance.checkin_codes import code_is_valid, current_code

    at = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    code, _seconds = current_code("secret", 7, at)
    assert code_is_valid("secret", 7, code.translate(str.maketrans("0123456789", "０１２３４５６７８９")), at)
    assert not code_is_valid("secret", 7, "٣" * 6, at)  # was a TypeError from compare_digest: a 500
