"""The enrolment journey: an employee requests a place in a session that needs approval, the
manager approves it, the employee sees it confirmed on My learning and downloads the .ics.

The live server is shared by every browser test of the run. This journey uses the demo employee
(主任級, データ活用推進課) and the manager (課長) of that division and never changes their
language: another test may have left one of them in English, and translations may still be
catching up, so texts are matched in both languages (or elements found by role, URL and structure).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.catalog.models import Course
from app.core.db import db_session
from app.scheduling.demo import DEMO_SESSIONS
from app.scheduling.models import TrainingSession
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, main_menu, sign_in, sign_out_button, whole

pytestmark = pytest.mark.browser

COURSE_CODE = "DX-SHUNIN-2020"
COURSE_TITLE_JA = "主任級デジタル研修"
COURSE_TITLE = re.compile("主任級デジタル研修|Digital Training for Chief-Level Staff")
FIRST_SESSION_LABEL = DEMO_SESSIONS[COURSE_CODE][0][1]  # 第1回（県庁講堂）: manager approval


def meeting_times(live_server: LiveServer, code: str, label: str) -> list[tuple[datetime, datetime]]:
    """The meetings of a session as the server stored them (read only)."""
    with live_server.app.app_context():
        session = db_session.scalar(select(TrainingSession).join(Course, TrainingSession.course_id == Course.id)
                                    .where(Course.code == code, TrainingSession.label == label))
        assert session is not None
        return [(m.starts_at, m.ends_at) for m in session.meetings]


def sign_out(page: Page, base_url: str) -> None:
    sign_out_button(page).click()
    expect(page).to_have_url(base_url + "/login")
    expect(page.get_by_role("status")).to_have_text(whole("ログアウトしました。", "You have signed out."))


def test_employee_requests_a_place_manager_approves_and_the_employee_downloads_the_ics(
        new_context, live_server, shot):
    base = live_server.url
    context = new_context(locale="ja-JP", accept_downloads=True)
    page: Page = context.new_page()

    # --- the employee finds the course in the catalog and requests a place ---------------------
    sign_in(page, live_server.login_for("employee"))
    employee_name = page.locator(".header-tools .whoami").inner_text().strip()
    assert employee_name
    main_menu(page).get_by_role("link", name=whole("研修一覧", "Catalog")).click()
    expect(page).to_have_url(base + "/catalog/")
    search = page.get_by_role("search")
    search.get_by_label(whole("キーワード", "Keyword")).fill(COURSE_TITLE_JA)
    search.get_by_role("button", name=whole("検索", "Search")).click()
    page.locator("main").get_by_role("link", name=COURSE_TITLE).first.click()
    expect(page).to_have_url(f"{base}/catalog/courses/{COURSE_CODE}")
    expect(page.get_by_role("heading", level=1)).to_have_text(COURSE_TITLE)

    sessions_panel = page.locator("section[aria-labelledby=sessions-heading]")
    cards = sessions_panel.locator("li.session-card")
    expect(cards).to_have_count(len(DEMO_SESSIONS[COURSE_CODE]))
    first = cards.filter(has=page.get_by_role("heading", name=FIRST_SESSION_LABEL, exact=True))
    expect(first).to_have_count(1)
    expect(first).to_contain_text(either("所属長の承認が必要", "Manager approval needed"))
    first.get_by_role("button", name=either("参加を申し込む", "Request a place")).click()

    expect(page).to_have_url(f"{base}/catalog/courses/{COURSE_CODE}")
    expect(page.locator(".flash--success")).to_have_text(either(
        "所属長の承認を待つ間、席は確保されています", "a seat is kept for you while your manager decides"))
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(first.locator(".badge--warn")).to_have_text(re.compile(
        "(承認待ち|Awaiting approval).*(席を確保|seat kept)"))
    expect(sessions_panel.get_by_role("button")).to_have_count(0)  # one live request per course
    shot(page, "01-employee-requested-a-place")

    main_menu(page).get_by_role("link", name=whole("マイラーニング", "My learning")).click()
    expect(page).to_have_url(base + "/my-learning")
    pending = page.locator("section[aria-labelledby=pending-heading]")
    expect(pending.get_by_role("heading", level=2)).to_have_text(either("承認待ち", "Requests awaiting approval"))
    request_item = pending.get_by_role("listitem").filter(has=page.get_by_role("link", name=COURSE_TITLE))
    expect(request_item).to_have_count(1)
    expect(request_item.locator(".badge")).to_have_text(re.compile(
        "(承認待ち|Awaiting approval).*(席を確保|seat kept)"))
    upcoming = page.locator("section[aria-labelledby=upcoming-heading]")
    expect(upcoming.get_by_role("link", name=COURSE_TITLE)).to_have_count(0)  # not confirmed yet
    shot(page, "02-employee-my-learning-pending")
    sign_out(page, base)

    # --- the manager approves it ----------------------------------------------------------------
    sign_in(page, live_server.login_for("manager"))
    main_menu(page).get_by_role("link", name=whole("承認", "Approvals")).click()
    expect(page).to_have_url(base + "/approvals")
    expect(page.get_by_role("heading", level=1)).to_have_text(either("承認待ち", "awaiting your approval"))
    row = page.get_by_role("row").filter(has_text=employee_name).filter(
        has=page.get_by_role("link", name=COURSE_TITLE))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(either("確保", "kept"))
    row.get_by_role("checkbox").check()
    page.get_by_label(whole("判断", "Decision")).select_option("approve")
    expect(page.get_by_label(whole("判断", "Decision")).locator("option:checked")).to_have_text(
        whole("承認", "Approve"))
    shot(page, "03-manager-ticked-the-request")
    page.get_by_role("button", name=either("選択した申込に適用", "Apply to the ticked requests")).click()

    expect(page).to_have_url(base + "/approvals")
    expect(page.locator(".flash--success")).to_have_text(whole(
        "1 件の申込を承認しました。", "1 request(s) approved."))
    expect(page.get_by_role("row").filter(has_text=employee_name)).to_have_count(0)
    shot(page, "04-manager-approved")
    sign_out(page, base)

    # --- the employee sees the confirmed place and downloads the calendar file ------------------
    sign_in(page, live_server.login_for("employee"))
    main_menu(page).get_by_role("link", name=whole("マイラーニング", "My learning")).click()
    expect(page).to_have_url(base + "/my-learning")
    expect(page.locator("section[aria-labelledby=pending-heading]")).to_have_count(0)
    upcoming = page.locator("section[aria-labelledby=upcoming-heading]")
    expect(upcoming.get_by_role("heading", level=2)).to_have_text(whole("今後の受講予定", "Upcoming sessions"))
    card = upcoming.locator("li.session-card").filter(has=page.get_by_role("link", name=COURSE_TITLE))
    expect(card).to_have_count(1)
    expect(card.locator(".badge--ok")).to_have_text(whole("受講確定", "Confirmed"))
    shot(page, "05-employee-my-learning-confirmed")

    with page.expect_download() as download_info:
        card.get_by_role("link", name=either("カレンダーに追加（.ics）", "Add to calendar (.ics)")).click()
    download = download_info.value
    assert re.fullmatch(r"manabi-\d+\.ics", download.suggested_filename), download.suggested_filename
    body = Path(download.path()).read_bytes()

    calendar = Calendar.from_ical(body)
    timezones = calendar.walk("VTIMEZONE")
    assert [str(tz["TZID"]) for tz in timezones] == ["Asia/Tokyo"]
    events = calendar.walk("VEVENT")
    meetings = meeting_times(live_server, COURSE_CODE, FIRST_SESSION_LABEL)
    assert len(events) == len(meetings), body.decode()
    for event, (starts_at, ends_at) in zip(events, meetings, strict=True):
        assert COURSE_TITLE_JA in str(event["SUMMARY"])
        assert str(event["STATUS"]) == "CONFIRMED"
        assert event["DTSTART"].params["TZID"] == "Asia/Tokyo"
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert str(start.tzinfo) == "Asia/Tokyo"
        assert start.utcoffset() == timedelta(hours=9)
        assert (start, end) == (starts_at, ends_at)  # the same instants
        assert (start.hour, start.minute, end.hour, end.minute) == (13, 30, 16, 30)  # Tokyo wall clock
        assert str(event["LOCATION"]) == DEMO_SESSIONS[COURSE_CODE][0][2]
    context.close()
