"""The reports journey: a manager opens the team page, filters the overdue training and exports it
to Excel; HR opens the half-year report from the dashboard and its A4 print view.

The live server is shared by every browser test of the run. The demo's own assignment rules are
due in February, so nothing is overdue on a real "today": the test creates a course of its own (a
unique code) and assigns it to the chief-level (主任級) staff of the demo manager's department,
due yesterday. So that the half-year report of the current half has figures to chart, those staff
also hold confirmed places in a session of that course which took place earlier today (or at the
start of the half). The demo manager (課長, データ活用推進課) and HR are signed in; their languages are
never changed. Another test may have left one of them in English, so texts are matched in both
languages (or elements found by role, URL and structure).
"""
from __future__ import annotations

import base64
import io
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from app.catalog.course_files import CourseSpec
from app.catalog.services import create_assignment_rule, publish_course, save_course
from app.core.clock import TOKYO, now, today
from app.core.db import db_session
from app.core.fiscal import fiscal_half_of, fiscal_year_of
from app.enrollment.models import EnrolmentState
from app.enrollment.services import enrol
from app.org.models import Employee, Grade, Unit
from app.reports.models import HalfYearReport
from app.scheduling.models import ApprovalPolicy, TrainingSession
from app.scheduling.services import SessionDetails, schedule_session
from app.web.charts import FONT, WIDTH
from tests.e2e.conftest import SCREENSHOT_DIR, LiveServer
from tests.e2e.helpers import either, main_menu, sign_in, whole

pytestmark = pytest.mark.browser

ARTIFACT_DIR = SCREENSHOT_DIR.parent
OVERDUE = ("期限超過", "Overdue")
TEAM_HEADER = {
    "ja": ["職員番号", "氏名", "所属", "職級", "研修", "受講期限", "状態"],
    "en": ["Employee number", "Name", "Division", "Grade", "Course", "Due date", "Status"],
}
A4_AT_96_DPI = {"width": 794, "height": 1123}  # 210 x 297 mm


@dataclass(frozen=True)
class Overdue:
    code: str
    title: re.Pattern[str]
    due_on: str  # ISO date
    team_members: frozenset[str]  # names of the manager's chief-level staff, now overdue
    department: re.Pattern[str]  # the department they belong to, as the report names it
    half: int  # the fiscal half of today: 1 (上期) or 2 (下期)


def assign_overdue_training(live_server: LiveServer) -> Overdue:
    """A published course of the test's own, assigned to the 主任級 staff of the department of the
    demo manager's division, due yesterday (so overdue today)."""
    suffix = uuid.uuid4().hex[:6].upper()
    code = f"E2E-LATE-{suffix}"
    title_ja, title_en = f"期限切れ確認研修 {suffix}", f"Overdue check course {suffix}"
    with live_server.app.app_context():
        def person(role: str) -> Employee:
            found = db_session.scalar(select(Employee).where(
                Employee.employee_number == live_server.login_for(role)))
            assert found is not None, role
            return found

        hr, manager = person("HR"), person("manager")
        division = db_session.scalar(select(Unit).where(Unit.head_id == manager.id))
        assert division is not None and division.parent is not None
        shunin = db_session.scalar(select(Grade).where(Grade.code == "SHUNIN"))
        assert shunin is not None
        current = today()
        spec = CourseSpec(
            code=code, kind="course", title_ja=title_ja, title_en=title_en, track="grade_training",
            theme="general", delivery_format="elearning", hours="1", fiscal_year=fiscal_year_of(current).year,
            target_grades=["SHUNIN"], prerequisites=[], min_attendance_pct=100, quiz_pass_mark=None,
            survey_required=False, body_md="## ねらい\n\n期限を過ぎた研修の表示を確かめます。\n")
        course = save_course(hr, None, spec)
        publish_course(hr, course)
        due_on = current - timedelta(days=1)
        _rule, changes = create_assignment_rule(hr, course, shunin, fiscal_year_of(current).year, due_on,
                                                [division.parent])
        staff = list(db_session.scalars(select(Employee).where(
            Employee.unit_id == division.id, Employee.grade_id == shunin.id, Employee.is_active.is_(True))))
        assert staff, "the demo division has no 主任級 staff"
        assert changes.assigned >= len(staff)

        # A session they all attend, held in the current half before now: enrol() refuses a session
        # that has started, so schedule it for later, enrol, then move its meeting back.
        half = fiscal_half_of(current)
        later = now().replace(microsecond=0) + timedelta(hours=2)
        details = SessionDetails(
            label=f"E2E {suffix}", location="オンライン", online_url=None, capacity=len(staff),
            enrolment_opens_at=later - timedelta(days=7), enrolment_closes_at=later - timedelta(hours=1),
            cancellation_deadline_at=later - timedelta(hours=1), approval_policy=ApprovalPolicy.NONE)
        session: TrainingSession = schedule_session(hr, course, details, [(later, later + timedelta(hours=1))])
        for employee in staff:
            assert enrol(hr, employee, session, override_rules=True).enrolment.state == EnrolmentState.CONFIRMED
        half_start = datetime.combine(half.starts_on, time(0), tzinfo=TOKYO)
        starts_at = max(now().replace(microsecond=0) - timedelta(hours=2), half_start)
        [meeting] = session.meetings
        meeting.starts_at, meeting.ends_at = starts_at, starts_at + timedelta(hours=1)
        session.starts_at, session.ends_at = meeting.starts_at, meeting.ends_at
        department = division.parent
        db_session.commit()
        return Overdue(code=code, title=either(title_ja, title_en), due_on=due_on.isoformat(),
                       team_members=frozenset(e.name for e in staff),
                       department=whole(department.name, department.name_en or department.name), half=half.half)


def bar_names(chart: Locator) -> list[str]:
    """The bar names drawn in a chart image (an SVG in a data: URI)."""
    source = chart.get_attribute("src") or ""
    assert source.startswith("data:image/svg+xml;base64,"), source[:40]
    svg = ET.fromstring(base64.b64decode(source.split(",", 1)[1]))
    return [text.text or "" for group in svg.iter() if "y" in (group.get("class") or "").split()
            for text in group.iter() if text.tag.endswith("text")]


def test_manager_filters_overdue_and_exports_excel_hr_opens_the_half_year_report_and_its_print_view(
        new_context, live_server, shot):
    base = live_server.url
    overdue = assign_overdue_training(live_server)

    # --- the manager opens the team page and keeps the overdue rows -----------------------------
    context = new_context(locale="ja-JP", accept_downloads=True)
    page: Page = context.new_page()
    sign_in(page, live_server.login_for("manager"))
    main_menu(page).get_by_role("link", name=whole("チーム", "My team")).click()
    expect(page).to_have_url(base + "/team")
    expect(page.get_by_role("heading", level=1)).to_have_text(whole("チームの研修状況", "My team's training"))
    filters = page.locator("main form.filters")
    status = filters.get_by_label(whole("状態", "Status"))
    status.select_option("overdue")
    expect(status.locator("option:checked")).to_have_text(whole(*OVERDUE))
    filters.get_by_role("button", name=whole("絞り込む", "Filter")).click()
    expect(page).to_have_url(re.compile(re.escape(base + "/team?") + r".*\bstatus=overdue\b"))
    expect(page.get_by_label(whole("状態", "Status")).locator("option:checked")).to_have_text(whole(*OVERDUE))

    people = page.locator("section[aria-labelledby=people-heading]")
    rows = people.locator("tbody tr")
    ours = rows.filter(has=page.get_by_role("cell", name=overdue.title))
    expect(ours).to_have_count(len(overdue.team_members))
    for name in overdue.team_members:
        expect(ours.filter(has=page.get_by_role("rowheader", name=name, exact=True))).to_have_count(1)
    row_count = rows.count()
    assert row_count >= len(overdue.team_members)
    expect(rows.locator(".badge")).to_have_count(row_count)  # one status badge per row, all overdue
    for index in range(row_count):
        badge = rows.nth(index).locator(".badge")
        expect(badge).to_have_text(whole(*OVERDUE))
        expect(badge).to_have_class(re.compile(r"\bbadge--error\b"))
    expect(people.locator(".badge").filter(has_not_text=either(*OVERDUE))).to_have_count(0)
    shot(page, "01-manager-team-overdue")

    with page.expect_download() as download_info:
        page.locator("main").get_by_role("link", name=whole("Excelに出力", "Export Excel")).click()
    download = download_info.value
    assert re.fullmatch(r"team-\d{4}-\d{2}-\d{2}\.xlsx", download.suggested_filename), download.suggested_filename
    workbook = load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True)  # no .xlsx suffix
    try:
        sheet = workbook.worksheets[0]
        table = [list(values) for values in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    header, body = table[0], table[1:]
    assert header in TEAM_HEADER.values(), header
    name_at, course_at, due_at, status_at = 1, 4, 5, 6
    assert len(body) == row_count, (len(body), row_count)
    assert all(row[status_at] in OVERDUE for row in body), [row[status_at] for row in body]
    ours_in_file = [row for row in body if overdue.title.search(str(row[course_at]))]
    assert {row[name_at] for row in ours_in_file} == overdue.team_members
    # The due date is a real date cell in Excel, not text.
    assert {row[due_at].date().isoformat() for row in ours_in_file} == {overdue.due_on}
    context.close()

    # --- HR opens the half-year report from the dashboard, then its print view --------------------
    hr_context = new_context(locale="ja-JP")
    hr: Page = hr_context.new_page()
    sign_in(hr, live_server.login_for("HR"))
    main_menu(hr).get_by_role("link", name=whole("ダッシュボード", "Dashboard")).click()
    expect(hr).to_have_url(base + "/reports/dashboard")
    hr.locator("main").get_by_role("link", name=whole("半期報告", "Half-year report")).click()
    expect(hr).to_have_url(re.compile(re.escape(base + "/reports/half-year?fy=") + r"\d{4}"))
    # From the whole-year dashboard the report opens on today's half; choosing it explicitly too.
    expect(hr.locator("#half")).to_have_value(str(overdue.half))
    period = hr.locator("main form.filters")
    period.get_by_label(whole("期間", "Period")).select_option(str(overdue.half))
    period.get_by_role("button", name=whole("表示", "Show")).click()
    expect(hr).to_have_url(re.compile(re.escape(base + "/reports/half-year?") + rf".*\bhalf={overdue.half}\b"))
    report = hr.locator("article.report")
    expect(report.locator(".report__period")).to_contain_text(
        either("上期", "first half") if overdue.half == 1 else either("下期", "second half"))
    expect(report.get_by_role("heading", level=1)).to_contain_text(
        either("職員研修の進捗状況", "Staff training progress report"))
    charts = report.locator(".chart-figure img.chart")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2  # by department and by grade (and against plan when there are plans)
    for index in range(charts.count()):
        expect(charts.nth(index)).to_have_attribute("alt", re.compile(r"^(棒グラフ：|Bar chart: )\S"))
        assert charts.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")  # the page's CSP lets it in
    department_chart = charts.first  # by department: our department has a bar, labelled
    assert [name for name in bar_names(department_chart) if overdue.department.fullmatch(name)]
    expect(report.locator("table.figures").first.get_by_role("rowheader", name=overdue.department)).to_have_count(1)
    assert report.locator("table.figures").count() >= 4  # department, grade, course, cohorts
    shot(hr, "02-hr-half-year-report")

    hr.get_by_role("link", name=whole("印刷用表示（A4）", "Print view (A4)")).click()
    expect(hr).to_have_url(re.compile(r"[?&]print=1\b"))
    expect(hr.locator("article.report--print")).to_be_visible()
    hr.set_viewport_size(A4_AT_96_DPI)
    hr.emulate_media(media="print")
    expect(hr.locator(".site-header")).to_be_hidden()
    expect(hr.locator(".no-print").first).to_be_hidden()
    expect(hr.locator("article.report--print").get_by_role("heading", level=1)).to_be_visible()
    for index in range(charts.count()):  # printed about 120 mm wide: on the page, text about 12 pt
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] * FONT / WIDTH >= 11 and box["width"] <= A4_AT_96_DPI["width"], box
    shot(hr, "03-hr-half-year-print-view")

    pdf_path = ARTIFACT_DIR / "reports-half-year-print.pdf"
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    pdf_path.unlink(missing_ok=True)
    hr.pdf(path=str(pdf_path), format="A4", print_background=True)
    data = Path(pdf_path).read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 10_000, len(data)
    reader = PdfReader(pdf_path)
    assert len(reader.pages) >= 1
    width_pt, height_pt = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert abs(width_pt - 595) < 2 and abs(height_pt - 842) < 2, (width_pt, height_pt)  # A4 portrait
    hr_context.close()


def charts_fit(page: Page, width: int) -> None:
    """Nothing wider than the screen; every chart an image inside it, loaded, named by its alt, its
    text 11 px or more (drawn WIDTH units wide with FONT-unit text), with its table in its figure."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    charts = page.locator(".chart-figure img.chart")
    assert charts.count() >= 1
    for index in range(charts.count()):
        chart = charts.nth(index)
        expect(chart).to_be_visible()
        expect(chart).to_have_attribute("alt", re.compile(r"^(棒グラフ：|Bar chart: )\S"))
        assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
        box = chart.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert box["width"] * FONT / WIDTH >= 11, box
        figure = chart.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' chart-figure ')]")
        expect(figure.locator("table")).to_have_count(1)


def test_the_dashboard_and_the_public_report_read_on_a_360_px_phone(new_context, live_server, shot):
    context = new_context(locale="ja-JP")
    page: Page = context.new_page()
    sign_in(page, live_server.login_for("HR"))
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/reports/dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text(whole("研修ダッシュボード", "Training dashboard"))
    charts_fit(page, 360)
    shot(page, "01-hr-dashboard-360px")
    context.close()

    with live_server.app.app_context():  # the demo's published report of the last half
        slug = db_session.scalar(select(HalfYearReport.public_slug).where(
            HalfYearReport.public_slug.is_not(None), HalfYearReport.superseded_at.is_(None)).limit(1))
    assert slug
    anonymous = new_context(locale="ja-JP", viewport={"width": 360, "height": 740})
    public: Page = anonymous.new_page()
    public.goto(f"/public/reports/{slug}")
    charts_fit(public, 360)
    shot(public, "02-public-report-360px")
    anonymous.close()
