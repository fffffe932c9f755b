"""Completions and certificates through the API, as the personnel system, HR and a manager see them:
a fiscal year's half of a unit's subtree and a grade, paged by `next` links that neither repeat nor
skip a row while completions keep arriving; a manager's team only; problems naming the field."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import time_machine

from app.catalog.models import Course
from app.completion.models import Completion
from app.completion.services import record_manual_completion
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, RoleName
from tests import factories
from tests.api.conftest import bearer, client_token, make_client, make_token
from tests.querycount import count_statements

FIRST_HALF = "fiscal_year=2026&half=first"  # 令和8年度 上期: 2026-04-01 .. 2026-09-30


@pytest.fixture(autouse=True)
def frozen():  # type: ignore[no-untyped-def]
    """A fixed day (2026-12-01 in Tokyo) that stands still: "expired" is decided against it, and
    every request of a test falls in one rate-limit minute."""
    with time_machine.travel(datetime(2026, 12, 1, 3, 0, tzinfo=UTC), tick=False):
        yield


@dataclass
class Org:
    """A department (DEPT) with a division (DIV) under it, and another department (ELSE)."""

    hr: Employee
    manager: Employee  # heads DIV
    in_dept: Employee  # SHUNIN, DEPT itself
    in_div: Employee  # SHUNIN, DIV
    in_div_shuji: Employee  # SHUJI, DIV
    elsewhere: Employee  # SHUNIN, ELSE


@pytest.fixture
def org(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        department = factories.unit("テスト部", code="DEPT")
        division = factories.unit("テスト課", parent=department, code="DIV")
        other = factories.unit("別の部", code="ELSE")
        made = Org(hr=factories.employee(other, roles=(RoleName.HR,)),
                   manager=factories.employee(division, "KACHO", heads=division),
                   in_dept=factories.employee(department), in_div=factories.employee(division),
                   in_div_shuji=factories.employee(division, "SHUJI"), elsewhere=factories.employee(other))
        return made


def _complete(person: Employee, completed_on: date, course: Course | None = None) -> Completion:
    """A completion recorded as the web's record page does (committed); a new course unless given."""
    employee = db_session.get(Employee, person.id)
    the_course = db_session.get(Course, course.id) if course is not None else factories.course()
    assert employee is not None and the_course is not None
    completion = record_manual_completion(employee, employee, the_course, completed_on, Decimal("3"), "")
    db_session.commit()
    return completion


def _system_token(client) -> str:  # type: ignore[no-untyped-def]
    return client_token(client, *make_client())


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    assert response.content_type == "application/problem+json"
    return response.get_json()  # type: ignore[no-any-return]


def _all_pages(client, url: str, secret: str) -> tuple[list[dict], int]:  # type: ignore[no-untyped-def,type-arg]
    items: list[dict] = []  # type: ignore[type-arg]
    pages = 0
    next_url: str | None = url
    while next_url:
        page = client.get(next_url, headers=bearer(secret))
        assert page.status_code == 200, page.get_data(as_text=True)[:400]
        items += page.get_json()["items"]
        next_url = page.get_json()["links"]["next"]
        pages += 1
    return items, pages


def test_the_personnel_system_pulls_a_units_first_half_for_a_grade_page_by_page(app, client, org):
    with app.app_context():
        expiring = factories.course("EXPIRES", title_ja="情報セキュリティ研修", title_en="Information security")
        expiring.valid_for_months = 1
        db_session.commit()
        wanted = [_complete(org.in_dept, date(2026, 4, 1)).id,  # the first day of 上期
                  _complete(org.in_div, date(2026, 5, 20), expiring).id,
                  _complete(org.in_dept, date(2026, 6, 30)).id,
                  _complete(org.in_div, date(2026, 6, 30)).id,
                  _complete(org.in_div, date(2026, 9, 30)).id]  # the last day of 上期
        revoked = _complete(org.in_dept, date(2026, 7, 7))
        revoked.revoked_at = now()
        db_session.commit()
        wanted.insert(4, revoked.id)
        _complete(org.in_dept, date(2026, 3, 31))  # 令和7年度
        _complete(org.in_div, date(2026, 10, 1))  # 下期
        _complete(org.in_div_shuji, date(2026, 5, 1))  # another grade
        _complete(org.elsewhere, date(2026, 5, 1))  # another department
        token = _system_token(client)

    items, pages = _all_pages(client, f"/api/v1/completions?{FIRST_HALF}&unit=DEPT&grade=SHUNIN&limit=2", token)
    assert [item["id"] for item in items] == wanted  # (completed_on, id) order, each once
    assert pages == 3
    first = items[0]
    assert first["employee_number"] == org.in_dept.employee_number and first["employee_name"] == org.in_dept.name
    assert (first["unit_code"], first["unit_name"], first["grade_code"]) == ("DEPT", "テスト部", "SHUNIN")
    assert (first["completed_on"], first["fiscal_year"], first["half"]) == ("2026-04-01", 2026, "first")
    assert first["source"] == "manual" and first["hours"] == 3 and first["certificate_code"]
    security = items[1]
    assert (security["course_code"], security["course_title_ja"], security["unit_code"]) \
        == ("EXPIRES", "情報セキュリティ研修", "DIV")
    assert security["valid_until"] is not None and security["expired"] is True and security["revoked"] is False
    assert items[4]["revoked"] is True and items[4]["revoked_at"] is not None
    assert all(item["valid_until"] is None and not item["expired"] for item in items if item is not security)

    courses = {item["course_code"] for item in items}
    one_course = client.get(f"/api/v1/completions?fiscal_year=2026&course={sorted(courses)[0]}",
                            headers=bearer(token)).get_json()["items"]
    assert len(one_course) == 1 and one_course[0]["course_code"] == sorted(courses)[0]
    one_person = client.get(f"/api/v1/completions?employee={org.in_div.employee_number}",
                            headers=bearer(token)).get_json()["items"]
    assert [item["completed_on"] for item in one_person] == ["2026-05-20", "2026-06-30", "2026-09-30", "2026-10-01"]
    second_half = client.get("/api/v1/completions?fiscal_year=2026&half=second", headers=bearer(token))
    assert [item["completed_on"] for item in second_half.get_json()["items"]] == ["2026-10-01"]
    this_years = client.get("/api/v1/completions?half=second", headers=bearer(token))  # today: 令和8年度 下期
    assert this_years.get_json()["items"] == second_half.get_json()["items"]


def test_a_page_boundary_neither_repeats_nor_skips_while_completions_arrive(app, client, org):
    with app.app_context():
        days = [date(2026, 5, d) for d in (1, 2, 2, 3, 4, 6)]
        before = [_complete(org.in_div, day).id for day in days]
        token = _system_token(client)
    first = client.get(f"/api/v1/completions?{FIRST_HALF}&limit=3", headers=bearer(token)).get_json()
    assert [item["id"] for item in first["items"]] == before[:3]
    with app.app_context():  # meanwhile: one on the boundary's day, one before it, one after it
        on_the_boundary = _complete(org.in_dept, date(2026, 5, 2)).id  # a later id than the boundary's
        behind = _complete(org.in_dept, date(2026, 4, 15)).id
        ahead = _complete(org.in_dept, date(2026, 5, 5)).id
    rest, _pages = _all_pages(client, first["links"]["next"], token)
    seen = [item["id"] for item in first["items"] + rest]
    assert len(seen) == len(set(seen))  # nothing twice
    assert set(before) <= set(seen)  # nothing skipped
    assert behind not in seen  # it sorts before the pages already read
    assert [i for i in seen if i not in before] == [on_the_boundary, ahead]  # in their place, once
    dates = [item["completed_on"] for item in first["items"] + rest]
    assert dates == sorted(dates)


def test_the_list_takes_the_same_statements_for_one_completion_as_for_thirty(app, client, org):
    with app.app_context():
        courses = [factories.course() for _ in range(15)]
        _complete(org.in_div, date(2026, 5, 1), courses[0])
        token = _system_token(client)
    url = f"/api/v1/completions?{FIRST_HALF}&unit=DEPT&grade=SHUNIN&limit=100"
    client.get(url, headers=bearer(token))  # the minute's first request notes the token's use
    with count_statements(app) as one:
        answer = client.get(url, headers=bearer(token))
    assert len(answer.get_json()["items"]) == 1
    with app.app_context():
        for n, course in enumerate(courses):
            if n:
                _complete(org.in_div, date(2026, 5, 1 + n), course)
            _complete(org.in_dept, date(2026, 6, 1 + n), course)
        _complete(org.elsewhere, date(2026, 5, 1), courses[0])  # outside the unit
    with count_statements(app) as thirty:
        answer = client.get(url, headers=bearer(token))
    assert len(answer.get_json()["items"]) == 30
    assert one.count == thirty.count, (one.statements, thirty.statements)
    # the token with its account, the rate window, the unit, the grade, the page
    assert thirty.count == 5, thirty.statements


def test_a_manager_sees_their_teams_completions_only(app, client, org):
    with app.app_context():
        team = [_complete(org.in_div, date(2026, 5, 1)).id, _complete(org.in_div_shuji, date(2026, 5, 2)).id]
        above = _complete(org.in_dept, date(2026, 5, 3)).id  # the department above the division
        elsewhere = _complete(org.elsewhere, date(2026, 5, 4)).id
        own = _complete(org.manager, date(2026, 5, 5)).id  # the team page leaves the manager out too
        secret = make_token(db_session.get(Employee, org.manager.id), ("read",))
    listed = client.get("/api/v1/completions", headers=bearer(secret))
    assert [item["id"] for item in listed.get_json()["items"]] == team
    narrowed = client.get("/api/v1/completions?unit=DEPT&grade=SHUJI", headers=bearer(secret))
    assert [item["id"] for item in narrowed.get_json()["items"]] == team[1:]
    outside = client.get("/api/v1/completions?unit=ELSE", headers=bearer(secret))
    assert outside.status_code == 200 and outside.get_json()["items"] == []  # a filter only narrows
    assert client.get(f"/api/v1/completions/{team[0]}", headers=bearer(secret)).status_code == 200
    for hidden in (above, elsewhere, own):
        _problem(client.get(f"/api/v1/completions/{hidden}", headers=bearer(secret)), 404)


def test_an_employee_and_an_administrator_are_refused(app, client, org):
    with app.app_context():
        completion_id = _complete(org.in_div, date(2026, 5, 1)).id
        employee = make_token(db_session.get(Employee, org.in_div.id), ("read",))
        admin = make_token(factories.employee(roles=(RoleName.ADMIN,)), ("read",))
    for secret in (employee, admin):
        _problem(client.get("/api/v1/completions", headers=bearer(secret)), 403)
        _problem(client.get(f"/api/v1/completions/{completion_id}", headers=bearer(secret)), 403)
    _problem(client.get("/api/v1/completions"), 401)


def _cursor(position: dict) -> str:  # type: ignore[type-arg]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("query", "field"), [
    ("half=third&fiscal_year=2026", "half"),
    ("fiscal_year=1999", "fiscal_year"),
    ("fiscal_year=R8", "fiscal_year"),
    ("unit=NOSUCH", "unit"),
    ("grade=NOSUCH", "grade"),
    ("course=NOSUCH", "course"),
    ("cursor=nonsense", "cursor"),
    (f"cursor={_cursor({'completed_on': '2026-13-01', 'id': 1})}", "cursor"),
    (f"cursor={_cursor({'code': 'X'})}", "cursor"),
])
def test_a_bad_filter_or_cursor_is_a_problem_naming_the_field(app, client, org, query, field):
    with app.app_context():
        token = _system_token(client)
    body = _problem(client.get(f"/api/v1/completions?{query}", headers=bearer(token)), 422)
    assert [error["field"] for error in body["errors"]] == [field]
    assert body["errors"][0]["in"] == "query"


def test_the_unknown_unit_is_named_in_japanese(app, client, org):
    with app.app_context():
        token = _system_token(client)
    body = _problem(client.get("/api/v1/completions?unit=NOSUCH", headers=bearer(token, **{"Accept-Language": "ja"})),
                    422)
    assert body["errors"][0]["message"] == "所属コード NOSUCH は登録されていません。"


def test_an_hr_persons_token_reads_a_completion_with_the_certificate_the_web_verifies(app, client, org):
    with app.app_context():
        completion = _complete(org.in_div, date(2026, 6, 1))
        completion_id, code = completion.id, completion.certificate_code
        secret = make_token(db_session.get(Employee, org.hr.id), ("read",))
    answer = client.get(f"/api/v1/completions/{completion_id}", headers=bearer(secret))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["id"] == completion_id and body["employee_number"] == org.in_div.employee_number
    assert body["certificate"]["code"] == code == body["certificate_code"]
    assert body["certificate"]["state"] == "valid"
    assert [item["id"] for item in client.get("/api/v1/completions", headers=bearer(secret)).get_json()["items"]] \
        == [completion_id]

    verify_url = body["certificate"]["verify_url"]
    web = app.test_client()
    factories.login_as(web, org.hr)
    assert verify_url in web.get(f"/certificates/{code}").get_data(as_text=True)  # as the web prints it
    verified = web.get(urlsplit(verify_url).path)
    assert verified.status_code == 200 and code in verified.get_data(as_text=True)

    with app.app_context():
        db_session.get(Completion, completion_id).revoked_at = now()  # type: ignore[union-attr]
        db_session.commit()
    revoked = client.get(f"/api/v1/completions/{completion_id}", headers=bearer(secret)).get_json()
    assert revoked["revoked"] is True and revoked["certificate"]["state"] == "revoked"
    _problem(client.get("/api/v1/completions/2147483647", headers=bearer(secret)), 404)


def test_an_hr_system_account_sees_everyone_too(app, client, org):
    with app.app_context():
        ids = [_complete(org.elsewhere, date(2026, 5, 1)).id, _complete(org.in_div, date(2026, 5, 2)).id]
        token = client_token(client, *make_client("hr", ("read",), name="人事課システム"))
    listed = client.get(f"/api/v1/completions?{FIRST_HALF}", headers=bearer(token))
    assert [item["id"] for item in listed.get_json()["items"]] == ids
