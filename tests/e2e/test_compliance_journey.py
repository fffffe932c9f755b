"""HR's compliance journey: HR opens the prefecture-wide view of mandatory training from the main
menu, narrows it to one department, drills down from the overdue count to the people behind it,
downloads the view as Excel, and opens a unit's team page (which used to refuse HR).

The demo (app/reports/demo.py) assigns an e-learning course to every 主事・技師, due two weeks
before the day it was loaded and done by part of them, so the first department has people overdue
whatever today is. The live server is shared by the browser tests; this one writes nothing. Texts are matched in
Japanese or English (another test may have left HR's account in English).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.core.db import db_session
from app.org.models import Unit
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, main_menu, sign_in, whole

pytestmark = pytest.mark.browser

OVERDUE = ("期限超過", "Overdue")


def first_department(live_server: LiveServer) -> tuple[int, tuple[str, str]]:
    """The demo's first department: its id and its names (Japanese, English)."""
    with live_server.app.app_context():
        department = db_session.scalar(select(Unit).where(Unit.code == "D01"))
        assert department is not None
        return department.id, (department.name, department.name_en or department.name)


def test_hr_filters_by_department_drills_down_to_the_overdue_and_downloads_the_view(new_context, live_server, shot):
    base = live_server.url
    department_id, department_names = first_department(live_server)
    department = whole(*department_names)
    context = new_context(locale="ja-JP", accept_downloads=True)
    page: Page = context.new_page()
    sign_in(page, live_server.login_for("HR"))

    # --- the whole prefecture -------------------------------------------------------------------
    main_menu(page).get_by_role("link", name=whole("必修研修", "Mandatory training")).click()
    expect(page).to_have_url(base + "/reports/compliance")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        whole("必修研修の状況（全庁）", "Mandatory training across the prefecture"))
    table = page.locator("#compliance-table")
    expect(table.locator("tbody tr")).to_have_count(8)  # the demo's eight departments
    chart = page.locator(".chart-figure img.chart")  # an image beside its table, named by its alt
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("alt", re.compile(r"^(棒グラフ：|Bar chart: )\S"))
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
    shot(page, "01-hr-compliance-prefecture")

    # --- one department -------------------------------------------------------------------------
    filters = page.locator("main form.filters")
    filters.get_by_label(whole("部局", "Department")).select_option(str(department_id))
    filters.get_by_role("button", name=whole("絞り込む", "Filter")).click()
    filtered = re.escape(f"{base}/reports/compliance?") + rf".*\bdepartment={department_id}\b"
    expect(page).to_have_url(re.compile(filtered))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.get_by_role("rowheader", name=department)).to_have_count(1)
    totals = page.locator("ul.stat-row")
    overdue_link = totals.get_by_role("link", name=re.compile(r"^\d+\s*(期限超過|Overdue)$"))
    overdue = int(re.match(r"\d+", overdue_link.inner_text().strip()).group())  # type: ignore[union-attr]
    assert overdue > 0, "the demo department has nobody overdue"
    shot(page, "02-hr-compliance-department")

    # --- the people behind the overdue count ----------------------------------------------------
    overdue_link.click()
    expect(page).to_have_url(re.compile(r"/reports/compliance/people\?.*\bstate=overdue\b"))
    expect(page).to_have_url(re.compile(rf"\bdepartment={department_id}\b"))
    expect(page.get_by_role("heading", level=1)).to_have_text(either("対象者：期限超過", "People: Overdue"))
    expect(page.locator("main").get_by_text(re.compile(rf"^{overdue}\s*(件|assignments)$"))).to_have_count(1)
    rows = page.locator("#compliance-people tbody tr")
    shown = rows.count()
    assert shown == min(overdue, 50), (shown, overdue)
    expect(rows.locator(".badge.badge--error")).to_have_count(shown)  # every one overdue
    expect(rows.locator(".badge").filter(has_not_text=either(*OVERDUE))).to_have_count(0)
    for index in range(shown):  # in the chosen department, each with a link to their record
        expect(rows.nth(index).locator("td").first).to_contain_text(either(*department_names))
        expect(rows.nth(index).get_by_role("rowheader").get_by_role("link")).to_have_attribute(
            "href", re.compile(r"^/staff/\d+/transcript$"))
    shot(page, "03-hr-compliance-overdue-people")

    # --- the download holds exactly those people -------------------------------------------------
    with page.expect_download() as download_info:
        page.locator("main").get_by_role("link", name=whole("Excelに出力", "Export Excel")).click()
    download = download_info.value
    assert re.fullmatch(r"compliance-\d{4}-\d{4}-\d{2}-\d{2}\.xlsx", download.suggested_filename), \
        download.suggested_filename
    workbook = load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True)
    try:
        summary, people = ([list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook.worksheets)
    finally:
        workbook.close()
    assert len(people) - 1 == overdue
    assert {row[8] for row in people[1:]} <= set(OVERDUE)
    assert {row[2] for row in people[1:]} <= set(department_names)  # the chosen department alone
    assert summary[1][3] == overdue  # the department's row: its overdue count
    context.close()


def test_hr_opens_the_team_page_of_any_unit(new_context, live_server, shot):
    base = live_server.url
    context = new_context(locale="ja-JP")
    page: Page = context.new_page()
    sign_in(page, live_server.login_for("HR"))
    main_menu(page).get_by_role("link", name=whole("チーム", "My team")).click()
    expect(page).to_have_url(base + "/team")  # no longer a 403
    expect(page.get_by_role("status").filter(
        has_text=either("所属を選ぶと", "Choose a unit"))).to_have_count(1)
    with live_server.app.app_context():
        division = db_session.scalar(select(Unit).where(Unit.code == "D0204"))
        assert division is not None
        division_id, division_name = division.id, division.name
    filters = page.locator("main form.filters")
    filters.get_by_label(whole("所属", "Unit")).select_option(str(division_id))
    filters.get_by_role("button", name=whole("絞り込む", "Filter")).click()
    expect(page).to_have_url(re.compile(rf"/team\?.*\bunit={division_id}\b"))
    rows = page.locator("section[aria-labelledby=people-heading] tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1
    expect(rows.first.locator("td").first).to_have_text(division_name)
    shot(page, "04-hr-team-page-of-a-division")
    context.close()
