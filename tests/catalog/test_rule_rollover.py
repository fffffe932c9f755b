"""HR rolls a fiscal year's assignment rules over to the next year: a preview first (nothing
written), next year's version of a course where the course is versioned per year, then one
confirmed POST that is applied once. Repeating rules are made on the rules page, with field errors
for what does not fit."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.catalog.models import Assignment, AssignmentRule, Recurrence
from app.catalog.services import create_assignment_rule
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.confirming import confirm_form, text_of
from tests.querycount import count_statements

ROLLOVER = "/catalog/rules/rollover"


@pytest.fixture
def year(app):
    """FY2026 rules: one whose course has a 2027 version, one on an unversioned course, one that
    repeats by itself, and one whose FY2027 rule exists already."""
    with app.app_context():
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        division = factories.unit("総務課")
        for grade in ("SHUNIN", "SHUNIN", "KACHO", "SHUJI"):
            factories.employee(division, grade)
        dx_2026 = factories.course("DX-SHUNIN-2026", title_ja="主任級デジタル研修", fiscal_year=2026)
        dx_2027 = factories.course("DX-SHUNIN-2027", title_ja="主任級デジタル研修（2027）", fiscal_year=2027)
        ethics = factories.course("ETHICS", title_ja="公務員倫理", fiscal_year=2020)
        security = factories.course("SEC", title_ja="情報セキュリティ", fiscal_year=2020)
        rules = {
            "versioned": create_assignment_rule(hr, dx_2026, factories.grade("SHUNIN"), 2026, date(2027, 2, 26))[0],
            "plain": create_assignment_rule(hr, ethics, factories.grade("KACHO"), 2026, date(2026, 12, 25))[0],
            "repeats": create_assignment_rule(hr, security, factories.grade("SHUJI"), 2026, date(2027, 1, 31),
                                              recurrence=Recurrence.FISCAL_YEAR)[0],
            "taken": create_assignment_rule(hr, ethics, factories.grade("SHUNIN"), 2026, date(2026, 12, 25))[0],
        }
        create_assignment_rule(hr, ethics, factories.grade("SHUNIN"), 2027, date(2027, 12, 24))
        db_session.commit()
        return {"hr": hr, "rules": {k: r.id for k, r in rules.items()}, "dx_2027": dx_2027.id}


def rule_count() -> int:
    return db_session.scalar(select(func.count()).select_from(AssignmentRule)) or 0


def test_the_preview_shows_what_will_be_created_and_writes_nothing(app, client, year):
    factories.login_as(client, year["hr"])
    with app.app_context():
        before = rule_count()
    with count_statements(app) as counted:
        page = client.get(f"{ROLLOVER}?from_year=2026")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2026 年度 → 2027 年度" in html
    assert "DX-SHUNIN-2027" in html and "翌年度版" in html  # next year's version of the course
    assert "2027年12月25日" in html  # the plain rule, due a year later
    assert "対象外：毎年度自動で繰り返します" in html
    assert "対象外：翌年度のルールが既にあります" in html
    assert counted.count <= 8, counted.statements  # a fixed number, however many rules
    with app.app_context():
        assert rule_count() == before


def _confirm(client, fingerprint: str | None = None):  # type: ignore[no-untyped-def]
    """Tick the confirmation on the preview page and press 繰り越す (its form carries the fingerprint)."""
    fields = {**dict(confirm_form(client.get(f"{ROLLOVER}?from_year=2026").get_data(as_text=True))[1]), "confirm": "y"}
    if fingerprint is not None:
        fields["fingerprint"] = fingerprint
    return client.post(ROLLOVER, data=fields)


def test_applying_creates_next_years_rules_once(app, client, year):
    factories.login_as(client, year["hr"])
    fields = {**dict(confirm_form(client.get(f"{ROLLOVER}?from_year=2026").get_data(as_text=True))[1]), "confirm": "y"}
    response = client.post(ROLLOVER, data=fields)
    assert response.status_code == 302
    assert "繰り越しました：2027 年度のルール 2 件" in client.get("/catalog/rules").get_data(as_text=True)
    with app.app_context():
        created = db_session.scalars(select(AssignmentRule).where(AssignmentRule.fiscal_year == 2027,
                                                                  AssignmentRule.previous_rule_id.is_not(None))).all()
        by_previous = {r.previous_rule_id: r for r in created}
        assert set(by_previous) == {year["rules"]["versioned"], year["rules"]["plain"]}
        assert by_previous[year["rules"]["versioned"]].course_id == year["dx_2027"]
        assert by_previous[year["rules"]["plain"]].due_on == date(2027, 12, 25)
        assert db_session.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.rule_id == by_previous[year["rules"]["versioned"]].id)) == 2
        count = rule_count()
    again = client.post(ROLLOVER, data=fields)  # the same confirmation again (a second tab, a double click)
    assert again.status_code == 302
    assert "2026 年度に繰り越すルールはありません" in client.get("/catalog/rules").get_data(as_text=True)
    with app.app_context():
        assert rule_count() == count


@pytest.mark.parametrize("data, field, message", [
    ({"from_year": "2026"}, "confirm", "繰り越すには確認にチェックを入れてください。"),
    ({"from_year": "abc", "confirm": "y"}, "from_year", "繰り越す年度"),
    ({"from_year": "1999", "confirm": "y"}, "from_year", "2026 のように年を入力してください。"),
])
def test_a_rollover_without_confirmation_or_with_a_bad_year_is_refused_by_field(app, client, year, data, field,
                                                                                message):
    factories.login_as(client, year["hr"])
    with app.app_context():
        before = rule_count()
    response = factories.post(client, ROLLOVER, data, form_page=f"{ROLLOVER}?from_year=2026")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert rule_count() == before


@pytest.mark.parametrize("query", ["from_year=abc", "from_year=", "from_year=99999"])
def test_a_preview_of_a_bad_year_names_the_field(app, client, year, query):
    factories.login_as(client, year["hr"])
    response = client.get(f"{ROLLOVER}?{query}")
    assert response.status_code == 400
    assert "繰り越す年度:" in response.get_data(as_text=True)


# --- repeating rules on the rules page --------------------------------------------------------------


def _rule_form(client, course_id: int, grade_id: int, **extra: str):  # type: ignore[no-untyped-def]
    data = {"course": str(course_id), "grade": str(grade_id), "fiscal_year": "2026", "due_on": "2027-01-31",
            "recurrence": "none", **extra}
    return factories.post(client, "/catalog/rules", data, form_page="/catalog/rules")


def test_hr_creates_a_rule_that_repeats_every_six_months(app, client, year):
    with app.app_context():
        course = factories.course("HANDLING", title_ja="個人情報の取扱い")
        grade_id = factories.grade("SHUNIN").id
    factories.login_as(client, year["hr"])
    response = _rule_form(client, course.id, grade_id, recurrence="months", interval_months="6")
    assert response.status_code == 302
    html = client.get("/catalog/rules").get_data(as_text=True)
    assert "6 か月ごと" in html and "毎年度" in html
    with app.app_context():
        rule = db_session.scalar(select(AssignmentRule).where(AssignmentRule.course_id == course.id))
        assert (rule.recurrence, rule.interval_months) == (Recurrence.MONTHS, 6)


@pytest.mark.parametrize("extra, message", [
    ({"recurrence": "months"}, "何か月ごとに繰り返すかを入力してください。"),
    ({"recurrence": "months", "interval_months": "0"}, "1〜120 の月数を入力してください。"),
    ({"recurrence": "fiscal_year", "interval_months": "6"}, "月数は「Nか月ごと」に繰り返すルールにだけ入力します。"),
    ({"recurrence": "weekly"}, "繰り返し"),
])
def test_a_repeating_rule_that_does_not_fit_is_refused_by_field(app, client, year, extra, message):
    with app.app_context():
        course = factories.course()
        grade_id = factories.grade("SHUNIN").id
        before = rule_count()
    factories.login_as(client, year["hr"])
    response = _rule_form(client, course.id, grade_id, **extra)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert rule_count() == before


def test_a_rollover_whose_preview_changed_creates_nothing(app, client, year):
    factories.login_as(client, year["hr"])
    with app.app_context():
        before = rule_count()
    refused = _confirm(client, fingerprint="0" * 32)  # what the page showed is no longer what it would do
    assert refused.status_code == 409
    words = text_of(refused.get_data(as_text=True))
    assert "プレビューの後にデータが変わったため、何も変更していません。" in words and "DX-SHUNIN-2027" in words
    with app.app_context():
        assert rule_count() == before
    assert "繰越しは取り消せません。" in words and "キャンセル（何も変更しない）" in words
    assert _confirm(client).status_code == 302  # the preview as it is now, confirmed
    with app.app_context():
        assert rule_count() == before + 2
