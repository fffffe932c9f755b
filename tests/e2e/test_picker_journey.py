"""The picker journey: HR records an outside training for someone without knowing their employee
number or the course's code. In each picker (app/static/picker.js) HR types part of the name or
title, moves to the match with the arrow keys, picks it with Enter (the form is not sent), and the
input holds the number or the code; the form is then sent and the certificate names the person.

The live server is shared by every browser test of the run: the person and the course are the
test's own (unique names), and HR's language is left as it was found (texts match in both).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.catalog.course_files import CourseSpec
from app.catalog.models import Course
from app.catalog.services import publish_course, save_course
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, Grade, Unit
from tests import factories
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, sign_in, whole

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Setup:
    suffix: str
    name: str
    number: str
    code: str
    title_ja: str


def set_up(live_server: LiveServer) -> Setup:
    """A person of the test's own in a demo division, and a published course of its own."""
    suffix = uuid.uuid4().hex[:6].upper()
    name, number, code = f"選択 花子{suffix}", f"PK{suffix}", f"E2E-PICK-{suffix}"
    title_ja = f"外部研修の記録テスト {suffix}"
    with live_server.app.app_context():
        hr = db_session.scalar(select(Employee).where(Employee.employee_number == live_server.login_for("HR")))
        assert hr is not None and hr.unit_id is not None
        grade = db_session.scalars(select(Grade).order_by(Grade.rank)).first()
        assert grade is not None
        unit = db_session.get(Unit, hr.unit_id)
        assert unit is not None
        db_session.add(Employee(employee_number=number, name=name, name_kana=f"センタク ハナコ{suffix}",
                                email=f"pick-{suffix.lower()}@pref.example.lg.jp", grade_id=grade.id,
                                unit_id=unit.id))
        spec = CourseSpec(
            code=code, kind="course", title_ja=title_ja, title_en=f"Recording outside training {suffix}",
            track="elective", theme="general", delivery_format="classroom", hours="2", fiscal_year=now().year,
            target_grades=["SHUNIN"], prerequisites=[], min_attendance_pct=100, quiz_pass_mark=None,
            survey_required=False, body_md="## ねらい\n\n記録のための研修です。\n")
        publish_course(hr, save_course(hr, None, spec))
        db_session.commit()
    return Setup(suffix=suffix, name=name, number=number, code=code, title_ja=title_ja)


def test_hr_picks_a_person_and_a_course_with_the_keyboard(page: Page, live_server: LiveServer, shot) -> None:
    setup = set_up(live_server)
    sign_in(page, live_server.login_for("HR"))
    page.goto("/completions/record")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        whole("外部研修・集合研修の修了を記録", "Record outside or offline training"))

    person = page.get_by_role("combobox", name=whole("職員番号", "Employee number"))
    expect(person).to_have_attribute("aria-expanded", "false")
    listbox_id = person.get_attribute("aria-controls")
    assert listbox_id
    listbox = page.locator(f"#{listbox_id}")
    expect(listbox).to_have_attribute("role", "listbox")

    # Part of the name, as HR remembers it: the list shows the name, the number and the unit.
    person.press_sequentially(f"花子{setup.suffix}")
    expect(person).to_have_attribute("aria-expanded", "true")
    option = listbox.get_by_role("option")
    expect(option).to_have_count(1)
    expect(option.first).to_contain_text(setup.name)
    expect(option.first).to_contain_text(setup.number)
    expect(page.get_by_role("status").filter(has_text=either("1件見つかりました", "1 found"))).to_have_count(1)
    shot(page, "01-matches")

    person.press("ArrowDown")
    expect(option.first).to_have_attribute("aria-selected", "true")
    expect(person).to_have_attribute("aria-activedescendant", option.first.get_attribute("id") or "")
    person.press("Enter")  # picks: the form is not sent
    expect(person).to_have_value(setup.number)
    expect(person).to_have_attribute("aria-expanded", "false")
    expect(page).to_have_url(re.compile(r"/completions/record$"))

    # The course by part of its title; Escape closes the list without picking, Down reopens it.
    course = page.get_by_role("combobox", name=whole("研修コード", "Course code"))
    course.press_sequentially(f"記録テスト {setup.suffix}")
    expect(course).to_have_attribute("aria-expanded", "true")
    course.press("Escape")
    expect(course).to_have_attribute("aria-expanded", "false")
    expect(course).to_have_value(f"記録テスト {setup.suffix}")
    course.press("ArrowDown")
    expect(course).to_have_attribute("aria-expanded", "true")
    course_option = page.locator(f"#{course.get_attribute('aria-controls')}").get_by_role("option")
    expect(course_option.first).to_contain_text(setup.code)
    expect(course_option.first).to_have_attribute("aria-selected", "true")
    course.press("Enter")
    expect(course).to_have_value(setup.code)
    shot(page, "02-picked")

    page.get_by_label(whole("修了日", "Completed on")).fill(now().date().isoformat())
    page.get_by_label(whole("時間数", "Hours")).fill("2")
    page.get_by_label(whole("根拠", "Evidence")).fill("主催団体の修了証（写し）")
    page.locator("main form").get_by_role("button", name=whole("記録する", "Record")).click()

    expect(page.get_by_text(either(f"{setup.name} さんの修了を記録しました。",
                                   f"Completion recorded for {setup.name}."))).to_be_visible()
    expect(page.locator("main")).to_contain_text(setup.name)
    shot(page, "03-recorded")


def test_hr_adds_people_to_a_group_enrolment_by_name(page: Page, live_server: LiveServer, shot) -> None:
    """On a session's participants page, HR finds two people by part of their names: each choice is
    added as a line of the list of employee numbers (which one may also paste into), and the
    preview names both."""
    setup = set_up(live_server)
    with live_server.app.app_context():
        course = db_session.scalar(select(Course).where(Course.code == setup.code))
        first = db_session.scalar(select(Employee).where(Employee.employee_number == setup.number))
        assert course is not None and first is not None
        db_session.add(Employee(employee_number=f"PL{setup.suffix}", name=f"追加 次郎{setup.suffix}",
                                name_kana=f"ツイカ ジロウ{setup.suffix}",
                                email=f"add-{setup.suffix.lower()}@pref.example.lg.jp",
                                grade_id=first.grade_id, unit_id=first.unit_id))
        session_id = factories.training_session(course).id
    sign_in(page, live_server.login_for("HR"))
    page.goto(f"/sessions/{session_id}/enrolments")
    adder = page.get_by_role("combobox", name=whole("氏名で探してリストに追加", "Add a person to the list by name"))
    numbers = page.get_by_label(whole("または職員番号で指定（1行に1人）", "Or these employee numbers (one per line)"))
    for part, number in ((f"花子{setup.suffix}", setup.number), (f"次郎{setup.suffix}", f"PL{setup.suffix}")):
        adder.press_sequentially(part)
        expect(adder).to_have_attribute("aria-expanded", "true")
        adder.press("ArrowDown")
        adder.press("Enter")  # adds the line; the form is not sent
        expect(adder).to_have_value("")
        expect(numbers).to_have_value(re.compile(rf"(^|\n){number}\n$"))
    expect(numbers).to_have_value(f"{setup.number}\nPL{setup.suffix}\n")
    shot(page, "04-group-list")

    page.get_by_role("button", name=whole("申込み内容を確認", "Preview the enrolment")).click()
    main = page.locator("main")
    expect(main).to_contain_text(setup.name)
    expect(main).to_contain_text(f"追加 次郎{setup.suffix}")
    shot(page, "05-group-preview")
