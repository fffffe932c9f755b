"""Plans per half as well as per year: HR types them in the plans form (a column per half), the
half-year figures compare a half with its own plan only (never a share of the year's: "no plan for
this half" instead), and the year falls back to the sum of both halves when it has no plan."""
from __future__ import annotations

from sqlalchemy import select

from app.core.db import db_session
from app.reports.figures import Period, compute, plan_of
from app.reports.models import CoursePlan
from tests import factories
from tests.reports import FY, table_rows

PLANS = f"/reports/plans?fy={FY}"


def saved(app) -> dict[tuple[str, int], int]:  # type: ignore[no-untyped-def]
    from app.catalog.models import Course

    with app.app_context():
        return {(code, half): planned for code, half, planned in db_session.execute(
            select(Course.code, CoursePlan.half, CoursePlan.planned).join(Course, CoursePlan.course_id == Course.id)
            .where(CoursePlan.fiscal_year == FY))}


def test_plan_of_compares_a_half_with_its_own_plan_only():
    assert plan_of({0: 8, 1: 5}, 1) == 5
    assert plan_of({0: 8}, 1) is None and plan_of({0: 8}, 2) is None  # never 8 / 2
    assert plan_of({0: 8, 1: 5, 2: 3}, None) == 8  # the year's own plan wins
    assert plan_of({1: 5, 2: 3}, None) == 8  # both halves planned: their sum
    assert plan_of({1: 5}, None) is None  # one half alone says nothing of the year


def test_hr_sets_and_clears_half_plans_in_the_plans_form(app, client, data):
    factories.login_as(client, data.hr)
    dx, mh = data.courses["dx"].id, data.courses["mh"].id
    page = client.get(PLANS).get_data(as_text=True)
    assert f'name="plan-{dx}-1"' in page and f'name="plan-{dx}-2"' in page
    assert (f'id="plan-{dx}-1" name="plan-{dx}-1" type="number" min="0" max="100000" inputmode="numeric" '
            'value="5"') in page
    assert 'aria-label="DX基礎研修・上期（4〜9月）"' in page

    response = factories.post(client, PLANS, {f"plan-{dx}": "10", f"plan-{dx}-1": "６", f"plan-{dx}-2": "",
                                              f"plan-{mh}-2": "4"}, form_page=PLANS)
    assert response.status_code == 302
    # 上期 typed in full-width digits; 下期 of DX emptied: removed; MENTAL's annual plan untouched
    assert saved(app) == {("DX-BASIC", 0): 10, ("DX-BASIC", 1): 6, ("MENTAL", 0): 4, ("MENTAL", 2): 4}

    response = factories.post(client, PLANS, {f"plan-{mh}-1": "-1"}, form_page=PLANS)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="plan-{mh}-1-error"' in html and "MENTAL" in html
    assert "メンタルヘルス研修・上期（4〜9月）: 0から100000までの整数で入力してください。" in html
    assert saved(app)[("MENTAL", 2)] == 4


def test_the_half_year_report_uses_the_half_plan_or_says_there_is_none(app, client, data):
    factories.login_as(client, data.hr)
    page = client.get(f"/reports/half-year?fy={FY}&half=2").get_data(as_text=True)
    courses = table_rows(page, "研修・プログラム別")
    assert courses["DX基礎研修"][4:6] == ["3", "66.7%"]  # 2 of 下期's plan of 3
    assert courses["メンタルヘルス研修"][4:6] == ["この期の計画なし（年間 4）", "—"]
    year = client.get(f"/reports/dashboard?fy={FY}").get_data(as_text=True)
    assert table_rows(year, "研修・プログラム別")["メンタルヘルス研修"][4:6] == ["4", "50.0%"]


def test_the_year_falls_back_to_the_sum_of_its_halves(app, data):
    with app.app_context():
        db_session.execute(CoursePlan.__table__.delete().where(CoursePlan.half == 0))
        rows = {r["label"]: (r["planned"], r["achievement"]) for r in compute(Period(FY, None))["by_course"]}
    assert rows == {"DX基礎研修": (8, 87.5), "メンタルヘルス研修": (None, None)}
