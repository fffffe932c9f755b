"""Rules that repeat every fiscal year or every N months, and courses whose completion expires:
each cycle is owed anew, opened once by the scheduler's scan, and earlier cycles stay as history."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from app.catalog.course_files import parse_course_text, render_course_file
from app.catalog.models import Assignment, AssignmentStatus, Course, Recurrence
from app.catalog.recurrence import Schedule, add_months, valid_until
from app.catalog.services import create_assignment_rule
from app.completion.models import Completion
from app.completion.recertification import run_recurrence
from app.completion.services import record_manual_completion, valid_completion
from app.core.clock import TOKYO
from app.core.db import db_session
from app.org.models import RoleName
from app.reminders.assignment_facts import assignment_facts_many
from tests import factories


def at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=TOKYO)


def cycles_of(rule_id: int, employee_id: int) -> list[tuple[int, int, date | None, date, AssignmentStatus]]:
    rows = db_session.execute(select(Assignment.cycle, Assignment.fiscal_year, Assignment.opens_on, Assignment.due_on,
                                     Assignment.status)
                              .where(Assignment.rule_id == rule_id, Assignment.employee_id == employee_id)
                              .order_by(Assignment.cycle))
    return [tuple(row) for row in rows]  # type: ignore[misc]


def still_owed(rule_id: int, cycle: int) -> dict[int, bool]:
    """Whether each person still owes the cycle, as the reminders judge it."""
    ids = set(db_session.scalars(select(Assignment.id).where(Assignment.rule_id == rule_id, Assignment.cycle == cycle)))
    return {facts.employee_id: facts.still_owed for facts in assignment_facts_many(ids).values()}


# --- the calendar -------------------------------------------------------------------------------


def test_months_are_added_to_the_end_of_shorter_months():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 12, 15), 3) == date(2028, 3, 15)
    assert add_months(date(2026, 3, 31), -13) == date(2025, 2, 28)
    assert valid_until(date(2026, 6, 10), 12) == date(2027, 6, 9)
    assert valid_until(date(2026, 6, 10), None) is None


def test_a_yearly_rule_opens_each_fiscal_year_on_1_april():
    schedule = Schedule(Recurrence.FISCAL_YEAR, None, 2026, date(2027, 1, 31))
    assert schedule.cycle(1).opens_on == date(2026, 4, 1)
    second = schedule.cycle(2)
    assert (second.fiscal_year, second.opens_on, second.due_on) == (2027, date(2027, 4, 1), date(2028, 1, 31))
    assert schedule.current(date(2027, 3, 31)).number == 1
    assert schedule.current(date(2027, 4, 1)).number == 2
    assert schedule.current(date(2029, 5, 1)).number == 4


def test_a_rule_every_six_months_opens_the_day_after_the_last_due_date():
    schedule = Schedule(Recurrence.MONTHS, 6, 2026, date(2026, 9, 30))
    second = schedule.cycle(2)
    assert (second.opens_on, second.due_on, second.fiscal_year) == (date(2026, 10, 1), date(2027, 3, 30), 2026)
    assert schedule.current(date(2026, 9, 30)).number == 1
    assert schedule.current(date(2026, 10, 1)).number == 2
    assert schedule.cycle(3).fiscal_year == 2027


# --- cycles opened by the scan ----------------------------------------------------------------------


@pytest.fixture
def security(ctx):
    division = factories.unit("情報政策課")
    hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
    course = factories.course("SEC-1", title_ja="情報セキュリティ基礎", delivery_format="elearning", min_attendance=0)
    course.valid_for_months = 12
    db_session.commit()
    return {"division": division, "hr": hr, "course": course,
            "a": factories.employee(division, "SHUNIN"), "b": factories.employee(division, "SHUNIN")}


def test_a_yearly_rule_owes_the_course_again_next_fiscal_year_and_keeps_last_years_cycle(security):
    course, a, b = security["course"], security["a"], security["b"]
    with time_machine.travel(at(2026, 6, 1), tick=False):
        rule, changes = create_assignment_rule(security["hr"], course, factories.grade("SHUNIN"), 2026,
                                               date(2027, 1, 31), recurrence=Recurrence.FISCAL_YEAR)
        assert changes.assigned == 2
        record_manual_completion(security["hr"], a, course, date(2026, 7, 1), Decimal("1"), "受講済み")
        db_session.commit()
        assert run_recurrence(date(2026, 6, 1)).opened == 0  # nothing new within the first year
    with time_machine.travel(at(2027, 4, 2), tick=False):
        report = run_recurrence(date(2027, 4, 2))
        db_session.commit()
        assert report.opened == 2
        assert run_recurrence(date(2027, 4, 2)).opened == 0  # the second run opens nothing more
        assert cycles_of(rule.id, a.id) == [
            (1, 2026, date(2026, 4, 1), date(2027, 1, 31), AssignmentStatus.SUPERSEDED),
            (2, 2027, date(2027, 4, 1), date(2028, 1, 31), AssignmentStatus.ACTIVE)]
        # Last year's completion is still valid (until 2027-06-30) but does not answer this year's cycle.
        owed = still_owed(rule.id, cycle=2)
        assert owed == {a.id: True, b.id: True}
        # Taking it again this year records a second cycle; the first stays as it was.
        renewed = record_manual_completion(security["hr"], a, course, date(2027, 5, 10), Decimal("1"), "再受講")
        db_session.commit()
        history = db_session.scalars(select(Completion).where(Completion.employee_id == a.id)
                                     .order_by(Completion.cycle)).all()
        assert [(c.cycle, c.completed_on, c.valid_until) for c in history] == [
            (1, date(2026, 7, 1), date(2027, 6, 30)), (2, date(2027, 5, 10), date(2028, 5, 9))]
        assert valid_completion(a.id, course.id).id == renewed.id
        owed = still_owed(rule.id, cycle=2)
        assert owed == {a.id: False, b.id: True}


def test_a_newcomer_to_a_repeating_rule_gets_the_cycle_open_today(security):
    with time_machine.travel(at(2027, 5, 1), tick=False):
        rule, _ = create_assignment_rule(security["hr"], security["course"], factories.grade("SHUNIN"), 2025,
                                         date(2026, 1, 31), recurrence=Recurrence.FISCAL_YEAR)
        db_session.commit()
        assert cycles_of(rule.id, security["a"].id) == [
            (3, 2027, date(2027, 4, 1), date(2028, 1, 31), AssignmentStatus.ACTIVE)]


def test_an_expired_completion_owes_the_course_again_once(security):
    course, a, b = security["course"], security["a"], security["b"]
    with time_machine.travel(at(2026, 6, 1), tick=False):
        rule, _ = create_assignment_rule(security["hr"], course, factories.grade("SHUNIN"), 2026, date(2026, 12, 25))
        record_manual_completion(security["hr"], a, course, date(2026, 6, 1), Decimal("1"), "受講済み")
        db_session.commit()
    with time_machine.travel(at(2027, 5, 31), tick=False):  # still valid on its last day
        assert run_recurrence(date(2027, 5, 31)).renewed == 0
        assert valid_completion(a.id, course.id) is not None
    with time_machine.travel(at(2027, 6, 1), tick=False):
        assert valid_completion(a.id, course.id) is None  # expired: kept, but no longer counts
        assert run_recurrence(date(2027, 6, 1)).renewed == 1
        assert run_recurrence(date(2027, 6, 1)).renewed == 0
        db_session.commit()
        assert cycles_of(rule.id, a.id) == [
            (1, 2026, None, date(2026, 12, 25), AssignmentStatus.SUPERSEDED),
            (2, 2027, date(2027, 6, 1), date(2027, 6, 30), AssignmentStatus.ACTIVE)]
        assert cycles_of(rule.id, b.id) == [(1, 2026, None, date(2026, 12, 25), AssignmentStatus.ACTIVE)]
        expired = db_session.scalar(select(Completion).where(Completion.employee_id == a.id))
        assert expired is not None and expired.revoked_at is None and expired.is_expired_on(date(2027, 6, 1))


# --- a course's validity, in its file and in the web designer ------------------------------------

HEADER = """---
code: SEC-FILE
kind: course
title:
  ja: 情報セキュリティ
  en: Security
track: elective
theme: general
format: elearning
hours: 1
fiscal_year: 2026
target_grades: []
prerequisites: []
completion:
  min_attendance: 0
  quiz_pass_mark: null
  survey_required: false
{validity}---
本文
"""


def test_a_course_file_carries_its_validity_and_round_trips():
    text = HEADER.format(validity="valid_for_months: 12\n")
    spec, issues = parse_course_text(text, "sec.md", set())
    assert issues == [] and spec is not None and spec.valid_for_months == 12
    assert render_course_file(spec) == text
    without, _ = parse_course_text(HEADER.format(validity=""), "sec.md", set())
    assert without is not None and without.valid_for_months is None
    assert without.content_hash() != spec.content_hash()


@pytest.mark.parametrize("value", ["0", "121", "1.5", "twelve", "true"])
def test_a_course_file_with_a_wrong_validity_names_the_field(value):
    spec, issues = parse_course_text(HEADER.format(validity=f"valid_for_months: {value}\n"), "sec.md", set())
    assert spec is None
    assert [(i.field, i.message) for i in issues] == [
        ("valid_for_months", "must be a whole number of months from 1 to 120")]


def test_the_security_course_is_valid_for_a_year():
    path = Path(__file__).resolve().parents[2] / "courses" / "elec-security-2020.md"
    spec, issues = parse_course_text(path.read_text(encoding="utf-8"), path.name,
                                     {"BUCHO", "JICHO", "KACHO", "HOSA", "SHUSA", "SHUNIN", "SHUJI"})
    assert issues == [] and spec is not None and spec.valid_for_months == 12


@pytest.mark.parametrize("value, status", [("12", 302), ("0", 400), ("abc", 400)])
def test_hr_sets_a_courses_validity_on_the_web(app, client, value, status):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        factories.course("VALID-1", title_ja="有効期限のある研修")
    factories.login_as(client, hr)
    token = factories.csrf_token(client, "/catalog/design/VALID-1/edit")
    response = client.post("/catalog/design/VALID-1/edit", data={
        "csrf_token": token, "code": "VALID-1", "kind": "course", "title_ja": "有効期限のある研修",
        "title_en": "Expiring course", "track": "elective", "theme": "general", "delivery_format": "classroom",
        "hours": "1", "fiscal_year": "2026", "target_grades": ["SHUNIN"], "min_attendance": "100",
        "valid_for_months": value, "body_md": "本文"})
    assert response.status_code == status
    with app.app_context():
        course = db_session.scalar(select(Course).where(Course.code == "VALID-1"))
        assert course.valid_for_months == (12 if status == 302 else None)
    if status == 400:
        html = response.get_data(as_text=True)
        assert 'id="valid_for_months-error"' in html and "修了の有効期間（月数）" in html
    else:
        assert "修了の有効期間は 12 か月" in client.get("/catalog/courses/VALID-1").get_data(as_text=True)
