"""HR's report pages post through forms: a planned number that is not a whole number from 0 to
PLANNED_MAX, a narrative too long or holding a refused character, or an unknown button is a 400
with the error next to the field (named by its label), and nothing is written."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.core.db import db_session
from app.org.models import RoleName
from app.reports.forms import NARRATIVE_MAX, PLANNED_MAX
from app.reports.models import CoursePlan, HalfYearReport
from tests import factories
from tests.confirming import post_and_confirm

FY = 2025
PLANS = f"/reports/plans?fy={FY}"
HALF_YEAR = f"/reports/half-year?fy={FY}&half=1"


@pytest.fixture
def hr(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee(roles=(RoleName.HR,))


@pytest.fixture
def courses(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return {"dx": factories.course("PLAN-DX", title_ja="DX基礎研修"),
                "mh": factories.course("PLAN-MH", title_ja="メンタルヘルス研修")}


def planned(app) -> dict[int, int]:  # type: ignore[no-untyped-def]
    with app.app_context():
        plans = db_session.scalars(select(CoursePlan).where(CoursePlan.fiscal_year == FY))
        return {p.course_id: p.planned for p in plans}


def reports(app) -> list[tuple[str, object]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return [(r.narrative, r.published_at) for r in db_session.scalars(select(HalfYearReport))]


def assert_field_error(html: str, field_id: str, label: str, message: str) -> None:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', html)
    assert match, f"no error for {field_id}"
    assert match.group(1) == f"{label}: {message}"
    assert f'aria-invalid="true" aria-describedby="{field_id}-error"' in html


def test_plans_are_saved_in_ascii_or_full_width_digits(app, client, hr, courses):
    factories.login_as(client, hr)
    dx, mh = courses["dx"].id, courses["mh"].id
    response = factories.post(client, PLANS, {f"plan-{dx}": "20", f"plan-{mh}": "１５"}, form_page=PLANS)
    assert response.status_code == 302 and response.headers["Location"].endswith(PLANS)
    assert planned(app) == {dx: 20, mh: 15}
    page = client.get(PLANS).get_data(as_text=True)
    assert f'name="plan-{dx}" type="number" min="0" max="{PLANNED_MAX}" inputmode="numeric" value="20"' in page
    # an empty field leaves its plan as it is
    assert factories.post(client, PLANS, {f"plan-{dx}": "", f"plan-{mh}": "0"}, form_page=PLANS).status_code == 302
    assert planned(app) == {dx: 20, mh: 0}


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "²", str(PLANNED_MAX + 1), "99999999999999999999"])
def test_a_bad_planned_number_is_a_field_error_and_changes_nothing(app, client, hr, courses, value):
    factories.login_as(client, hr)
    dx, mh = courses["dx"].id, courses["mh"].id
    assert factories.post(client, PLANS, {f"plan-{dx}": "20"}, form_page=PLANS).status_code == 302
    response = factories.post(client, PLANS, {f"plan-{dx}": "30", f"plan-{mh}": value}, form_page=PLANS)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert_field_error(html, f"plan-{mh}", "メンタルヘルス研修", f"0から{PLANNED_MAX}までの整数で入力してください。")
    assert f'id="plan-{dx}-error"' not in html
    assert "計画人数は整数で入力してください：PLAN-MH" in html  # the summary at the top, as before
    assert f'value="{value}"' in html and 'value="30"' in html  # what was typed is shown again
    assert planned(app) == {dx: 20}  # the good number of the same POST is not saved either


def test_a_plan_for_a_course_the_page_does_not_list_is_ignored(app, client, hr, courses):
    factories.login_as(client, hr)
    response = factories.post(client, PLANS, {"plan-999999": "-5", f"plan-{courses['dx'].id}": "3"}, form_page=PLANS)
    assert response.status_code == 302 and planned(app) == {courses["dx"].id: 3}


def test_the_longest_narrative_is_saved(app, client, hr):
    factories.login_as(client, hr)
    narrative = "あ" * (NARRATIVE_MAX - 2) + "\r\n"
    response = factories.post(client, HALF_YEAR, {"narrative": narrative, "action": "save"}, form_page=HALF_YEAR)
    assert response.status_code == 302
    assert reports(app) == [(narrative, None)]


@pytest.mark.parametrize("data, field_id, label, message", [
    ({"narrative": "あ" * (NARRATIVE_MAX + 1), "action": "publish"}, "narrative", "総括（報告の冒頭に掲載）",
     f"{NARRATIVE_MAX}文字以内で入力してください。"),
    ({"narrative": "順調\x00", "action": "publish"}, "narrative", "総括（報告の冒頭に掲載）",
     "制御文字は使えません（U+0000 が含まれています）"),
    ({"narrative": "順調\u202e", "action": "save"}, "narrative", "総括（報告の冒頭に掲載）",
     "文字の向きを変える制御文字は使えません（U+202E が含まれています）"),
    ({"narrative": "順調", "action": "delete"}, "action", "操作", "このページのボタンではありません。"),
])
def test_a_bad_narrative_or_button_is_a_field_error_and_changes_nothing(app, client, hr, data, field_id, label,
                                                                        message):
    factories.login_as(client, hr)
    response = factories.post(client, HALF_YEAR, data, form_page=HALF_YEAR)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert_field_error(html, field_id, label, message)
    assert reports(app) == []  # not saved (a long one was cut at 20,000 characters and saved) nor published
    assert "作成中：公表するまで数値は随時更新されます。" in html  # the report page, with the form to correct


def test_a_published_report_still_refuses_any_change(app, client, hr):
    factories.login_as(client, hr)
    post_and_confirm(client, HALF_YEAR, {"narrative": "順調", "action": "publish"}, form_page=HALF_YEAR)
    [(narrative, published_at)] = reports(app)
    assert narrative == "順調" and published_at is not None
    response = factories.post(client, HALF_YEAR, {"narrative": "x" * (NARRATIVE_MAX + 1), "action": "save"},
                              form_page="/")
    assert response.status_code == 302 and response.headers["Location"].endswith(HALF_YEAR)
    assert "公表済みの報告は変更できません。" in client.get(HALF_YEAR).get_data(as_text=True)
    assert reports(app) == [(narrative, published_at)]

