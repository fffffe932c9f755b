"""The pickers' searches (app/web/pickers.py): HR finds a person by part of a name, kana or number,
a unit by part of its code or name, a course by part of its code or title; the input receives the
code. At most 20 at once, in a fixed number of statements; a refused search is a JSON 400 that
says why; anyone but HR is refused. And the forms whose inputs take those codes carry the pickers."""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.db import db_session
from app.org.models import RoleName
from app.web.pickers import LIMIT, QUERY_MAX
from tests import factories
from tests.querycount import count_statements

JSON = {"Accept": "application/json"}


def search(client: FlaskClient, kind: str, q: str) -> Any:
    path = {"people": "/org/search/people", "units": "/org/search/units", "courses": "/catalog/search/courses"}[kind]
    response = client.get(path, query_string={"q": q}, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.is_json
    return response.get_json()


def values(answer: Any) -> list[str]:
    return [choice["value"] for choice in answer["results"]]


@pytest.fixture
def hr(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        person = factories.employee(roles=(RoleName.HR,))
    factories.login_as(client, person)
    return client


def test_people_are_found_by_part_of_their_name_kana_or_number(app: Flask, hr: FlaskClient) -> None:
    with app.app_context():
        division = factories.unit("検索テスト課")
        hanako = factories.employee(division, name="検索 花子", number="PK10001")
        hanako.name_kana = "ケンサク ハナコ"
        factories.employee(division, name="検索 次郎", number="PK10002")
        factories.employee(division, name="検索 退職", number="PK10003", active=False)
        db_session.commit()

    by_name = search(hr, "people", "検索 花")
    assert by_name == {"results": [{"value": "PK10001", "label": "検索 花子", "detail": "検索テスト課"}],
                       "more": False}
    assert values(search(hr, "people", "けんさく はなこ")) == ["PK10001"]  # kana typed in hiragana
    assert values(search(hr, "people", "ｹﾝｻｸ")) == ["PK10001"]  # half-width kana
    assert values(search(hr, "people", "pk1000")) == ["PK10001", "PK10002"]  # not the one who has left
    assert values(search(hr, "people", "ＰＫ１０００２")) == ["PK10002"]  # full-width digits
    assert search(hr, "people", "") == {"results": [], "more": False}
    assert search(hr, "people", "%") == {"results": [], "more": False}  # a wildcard is just a character


def test_an_exact_number_comes_first(app: Flask, hr: FlaskClient) -> None:
    with app.app_context():
        for number in ("EX20001", "EX2000", "EX20002"):
            factories.employee(number=number)
    assert values(search(hr, "people", "EX2000")) == ["EX2000", "EX20001", "EX20002"]


def test_units_are_found_by_code_or_name_and_shown_with_their_parent(app: Flask, hr: FlaskClient) -> None:
    with app.app_context():
        north = factories.unit("北部検索局", code="SRCH-N")
        south = factories.unit("南部検索局", code="SRCH-S")
        factories.unit("検索総務課", parent=north, code="SRCH-N1")
        factories.unit("検索総務課", parent=south, code="SRCH-S1")
        closed = factories.unit("検索閉鎖課", parent=south, code="SRCH-S9")
        closed.is_active = False
        db_session.commit()

    assert search(hr, "units", "検索総務")["results"] == [
        {"value": "SRCH-N1", "label": "検索総務課", "detail": "北部検索局"},
        {"value": "SRCH-S1", "label": "検索総務課", "detail": "南部検索局"},
    ]
    assert values(search(hr, "units", "srch-s")) == ["SRCH-S", "SRCH-S1"]  # not the closed one
    assert values(search(hr, "units", "SRCH-N")) == ["SRCH-N", "SRCH-N1"]  # the exact code first


def test_courses_are_found_by_code_or_title_drafts_marked(app: Flask, hr: FlaskClient) -> None:
    with app.app_context():
        factories.course("PICK-DATA-1", title_ja="データ活用入門", title_en="Using data")
        factories.course("PICK-DATA-2", title_ja="データ分析演習", title_en="Data analysis", status="draft")
        factories.course("PICK-OTHER", title_ja="文書事務", title_en="Office documents")

    assert search(hr, "courses", "でーた")["results"] == [  # hiragana finds the katakana title
        {"value": "PICK-DATA-1", "label": "データ活用入門", "detail": ""},
        {"value": "PICK-DATA-2", "label": "データ分析演習", "detail": "下書き"},
    ]
    assert values(search(hr, "courses", "pick-other")) == ["PICK-OTHER"]
    assert values(search(hr, "courses", "DATA ANALYSIS")) == ["PICK-DATA-2"]  # every word, any case


def test_at_most_twenty_in_a_fixed_number_of_statements(app: Flask, hr: FlaskClient) -> None:
    with app.app_context():
        factories.employee(name="件数 単独", number="QC00001")
    search(hr, "people", "件数")  # warm-up
    with count_statements(app) as one:
        assert values(search(hr, "people", "件数")) == ["QC00001"]

    with app.app_context():
        division = factories.unit("件数課")
        for n in range(2, LIMIT + 6):
            factories.employee(division, name=f"件数 職員{n}", number=f"QC{n:05d}")
    with count_statements(app) as many:
        answer = search(hr, "people", "件数")
    assert len(answer["results"]) == LIMIT and answer["more"] is True
    assert values(answer)[:2] == ["QC00001", "QC00002"]
    assert many.count == one.count, many.statements
    assert sum("FROM employees" in statement for statement in many.statements) <= 2  # the sign-in loader, the search

    for kind in ("units", "courses"):
        search(hr, kind, "件数")
        with count_statements(app) as counted:
            search(hr, kind, "件数")
        assert counted.count == one.count, (kind, counted.statements)


@pytest.mark.parametrize("q", ["x" * (QUERY_MAX + 1), "abc\x1b", "\u202eabc"])
def test_a_refused_search_is_a_json_400_that_says_why(hr: FlaskClient, q: str) -> None:
    for path in ("/org/search/people", "/org/search/units", "/catalog/search/courses"):
        response = hr.get(path, query_string={"q": q})
        assert response.status_code == 400 and response.is_json
        assert response.get_json()["error"] in (
            f"{QUERY_MAX}文字以内で入力してください。",
            "検索語：制御文字は使えません（U+001B が含まれています）。",
            "検索語：文字の向きを変える制御文字は使えません（U+202E が含まれています）。")


@pytest.mark.parametrize("role", ["employee", "manager", "instructor", "admin"])
def test_only_hr_searches(app: Flask, client: FlaskClient, role: str) -> None:
    with app.app_context():
        division = factories.unit()
        person = factories.employee(
            division, heads=division if role == "manager" else None,
            roles={"instructor": (RoleName.INSTRUCTOR,), "admin": (RoleName.ADMIN,)}.get(role, ()))
        factories.employee(name="秘密 一郎")
    factories.login_as(client, person)
    for path in ("/org/search/people", "/org/search/units", "/catalog/search/courses"):
        response = client.get(path, query_string={"q": "秘密"}, headers=JSON)
        assert response.status_code == 403 and response.is_json
        assert "秘密" not in response.get_data(as_text=True)


def test_signed_out_searches_lead_to_the_sign_in_page(client: FlaskClient) -> None:
    response = client.get("/org/search/people", query_string={"q": "a"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- the forms that take codes carry the pickers ---------------------------------------------------

_SCRIPT = re.compile(r'<script src="/static/picker\.js" defer\s+data-people="/org/search/people" '
                     r'data-units="/org/search/units"\s+data-courses="/catalog/search/courses"')


def _input(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert match, f"no input {name}"
    return match.group(0)


def test_the_forms_that_take_codes_carry_pickers(app: Flask, hr: FlaskClient) -> None:
    with app.app_context():
        course = factories.course("PICKER-FORMS")
        cohort_id = factories.cohort().id
    pages = {
        "/org/units": {"employee_number": "people"},
        "/completions/record": {"employee_number": "people", "course_code": "courses"},
        f"/sessions/course/{course.code}/new": {"instructors": "people"},
        "/catalog/design/new": {"prerequisites": "courses"},
        f"/cohorts/{cohort_id}/teams": {"host_unit": "units", "mentors": "people"},
    }
    multiple = {"instructors", "prerequisites", "mentors"}
    for path, fields in pages.items():
        page = hr.get(path).get_data(as_text=True)
        assert _SCRIPT.search(page), path
        for name, kind in fields.items():
            tag = _input(page, name)
            assert f'data-picker="{kind}"' in tag, (path, tag)
            assert ("data-picker-multiple" in tag) == (name in multiple), (path, tag)
            assert 'type="text"' in tag or "type=" not in tag  # still a plain text input without the script


def test_without_the_script_a_name_in_a_code_field_is_refused_by_name(app: Flask, hr: FlaskClient) -> None:
    """The picker writes the number; someone who types a name without it is told which field and why."""
    with app.app_context():
        factories.course("PICKER-PLAIN")
    response = factories.post(hr, "/completions/record", {
        "employee_number": "山田 花子", "course_code": "PICKER-PLAIN", "completed_on": "2026-04-01",
        "hours": "2", "evidence_note": "修了証"}, form_page="/completions/record")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "職員番号: この職員番号の職員はいません。" in page
