"""Accessibility and small screens: every main page, signed in as each demo role (and signed out),
passes axe-core with no serious or critical violation on a desktop (1366x768) and on a phone
(390x844), and nothing on it is wider than a 360 px wide phone's screen.

axe-core is the copy bundled by axe-playwright-python (requirements-dev.txt), evaluated in the page
(evaluation is not subject to the page's Content-Security-Policy; no inline script is added). Each
role shares one browser context for all its pages; a page is loaded once and resized in place.
Screenshots of each page at both sizes land in test-artifacts/screenshots/ (the `shot` helper).

The live server is shared by every browser test of the run; this test only reads, so it finds
what it shows (a course, a session, an enrolment, the demo cohorts, a certificate, the published
half-year report) in the demo data.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.cohorts.demo import TRIAL_NAME
from app.cohorts.models import Cohort
from app.completion.models import Completion
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee
from app.reports.models import HalfYearReport
from app.scheduling.models import Meeting, TrainingSession
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import admin_menu, main_menu, sign_in, sign_out_button, whole

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
NARROWEST = {"width": 360, "height": 800}
BLOCKING = {"serious", "critical"}
# Off by default in axe-core 4 ("experimental") but worth holding every page to.
EXPERIMENTAL = ("label-content-name-mismatch", "table-fake-caption", "td-has-header", "css-orientation-lock")
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {rule: {"enabled": True} for rule in EXPERIMENTAL}}


@dataclass(frozen=True)
class Targets:
    """Addresses of the demo's pages that need an id or a code."""

    course_code: str  # a published course with a session ahead
    session_id: int  # that session
    meeting_id: int  # a meeting of it still ahead
    enrolment_id: int  # the demo employee's own, if they have one
    cohort_id: int  # the open intake (第1期)
    trial_cohort_id: int  # the cohort at work (第0期（試行）), the demo employee's team in it
    certificate: str
    employee_id: int  # the demo employee
    public_report: str  # the published half-year report's slug


@pytest.fixture(scope="module")
def targets(live_server: LiveServer) -> Targets:
    with live_server.app.app_context():
        employee = db_session.scalar(select(Employee).where(
            Employee.employee_number == live_server.login_for("employee")))
        assert employee is not None
        ahead = db_session.execute(
            select(TrainingSession, Meeting).join(Meeting, Meeting.session_id == TrainingSession.id)
            .where(Meeting.starts_at > now()).order_by(Meeting.starts_at).limit(1)).one()
        training_session, meeting = ahead
        enrolment_id = db_session.scalar(
            select(Enrolment.id).order_by((Enrolment.employee_id == employee.id).desc(), Enrolment.id).limit(1))
        cohorts = {c.name: c.id for c in db_session.scalars(select(Cohort))}
        certificate = db_session.scalar(select(Completion.certificate_code).where(
            Completion.revoked_at.is_(None)).order_by(Completion.id).limit(1))
        slug = db_session.scalar(select(HalfYearReport.public_slug).where(
            HalfYearReport.public_slug.is_not(None)).order_by(HalfYearReport.id.desc()).limit(1))
        assert enrolment_id and certificate and slug, "the demo has enrolments, completions and a published report"
        return Targets(course_code=training_session.course.code,
                       session_id=training_session.id, meeting_id=meeting.id, enrolment_id=enrolment_id,
                       cohort_id=cohorts["第1期"], trial_cohort_id=cohorts[TRIAL_NAME], certificate=certificate,
                       employee_id=employee.id, public_report=slug)


Address = Callable[[Targets], str]

# role → the pages (name, address) it opens; together they cover the main pages of the app.
PAGES: dict[str, list[tuple[str, Address]]] = {
    "signed-out": [
        ("sign-in", lambda t: "/login"),
        ("not-found", lambda t: "/no-such-page"),
        ("public-report", lambda t: f"/public/reports/{t.public_report}"),
        ("verify", lambda t: f"/verify/{t.certificate}"),
    ],
    "employee": [
        ("home", lambda t: "/"),
        ("my-learning", lambda t: "/my-learning"),
        ("catalog", lambda t: "/catalog/"),
        ("course", lambda t: f"/catalog/courses/{t.course_code}"),
        ("cohorts", lambda t: "/cohorts/"),
        ("cohort", lambda t: f"/cohorts/{t.cohort_id}"),
        ("fieldwork", lambda t: f"/cohorts/{t.trial_cohort_id}/work"),
        ("transcript", lambda t: "/transcript"),
        ("notifications", lambda t: "/notifications"),
        ("password", lambda t: "/account/password"),
        ("signed-in-browsers", lambda t: "/account/sessions"),
        ("api-tokens", lambda t: "/account/tokens"),
        ("api-reference", lambda t: "/api/v1/docs"),
    ],
    "manager": [
        ("home", lambda t: "/"),
        ("team", lambda t: "/team"),
        ("approvals", lambda t: "/approvals"),
        ("endorsements", lambda t: "/cohorts/endorsements"),
    ],
    "department head": [
        ("home", lambda t: "/"),
        ("team", lambda t: "/team"),
    ],
    "HR": [
        ("home", lambda t: "/"),
        ("enrolment", lambda t: f"/enrolments/{t.enrolment_id}"),
        ("sessions", lambda t: f"/sessions/course/{t.course_code}"),
        ("session-roster", lambda t: f"/sessions/{t.session_id}/enrolments"),
        ("teaching", lambda t: "/attendance/teaching"),
        ("attendance-roster", lambda t: f"/attendance/meetings/{t.meeting_id}"),
        ("check-in-screen", lambda t: f"/attendance/meetings/{t.meeting_id}/check-in-screen"),
        ("grading", lambda t: "/grading"),
        ("cohort-board", lambda t: f"/cohorts/{t.trial_cohort_id}/board"),
        ("cohort-manage", lambda t: "/cohorts/manage"),
        ("dashboard", lambda t: "/reports/dashboard"),
        ("compliance", lambda t: "/reports/compliance"),
        ("half-year", lambda t: "/reports/half-year"),
        ("approvals", lambda t: "/approvals"),
        ("design", lambda t: "/catalog/design/"),
        ("course-edit", lambda t: f"/catalog/design/{t.course_code}/edit"),
        ("staff", lambda t: "/org/staff"),
        ("person", lambda t: f"/org/staff/{t.employee_id}"),
        ("import", lambda t: "/org/import"),
        ("outbox", lambda t: "/admin/outbox"),
        ("certificate", lambda t: f"/certificates/{t.certificate}"),
    ],
    "instructor": [
        ("home", lambda t: "/"),
        ("teaching", lambda t: "/attendance/teaching"),
        ("grading", lambda t: "/grading"),
    ],
    "admin": [
        ("home", lambda t: "/"),
        ("audit-log", lambda t: "/admin/audit/"),
        ("staff", lambda t: "/org/staff"),
        ("operations", lambda t: "/admin/operations"),
        ("api-system-accounts", lambda t: "/admin/api-clients"),
    ],
    "mentor": [
        ("home", lambda t: "/"),
        ("cohort-board", lambda t: f"/cohorts/{t.trial_cohort_id}/board"),
    ],
}


def axe_problems(page: Page) -> list[str]:
    """The serious and critical violations axe-core finds on the page, one line per element."""
    if not page.evaluate("typeof window.axe === 'object'"):  # once per page load
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    problems = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            problems.append(f"{violation['impact']} {violation['id']} ({violation['help']}): "
                            f"{json.dumps(node['target'])} {node['html'][:160]} — {node['failureSummary']}")
    return problems


def overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0 when it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


# The innermost elements that reach past the window's right edge, outside any box that scrolls.
PAST_THE_EDGE = """() => {
  const inScroller = el => { for (let p = el.parentElement; p; p = p.parentElement) {
    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true; } return false; };
  const past = [...document.body.querySelectorAll('*')].filter(el =>
    el.getBoundingClientRect().right > window.innerWidth + 0.5 && !inScroller(el));
  return past.filter(el => !past.some(other => other !== el && el.contains(other)))
    .slice(0, 3).map(el => el.outerHTML.slice(0, 120));
}"""


@pytest.mark.parametrize("role", list(PAGES))
def test_main_pages_are_accessible_and_fit_a_phone(role: str, new_context, live_server: LiveServer,  # type: ignore[no-untyped-def]
                                                  targets: Targets, shot) -> None:
    context = new_context(locale="ja-JP", viewport=DESKTOP)
    page = context.new_page()
    if role != "signed-out":
        sign_in(page, live_server.login_for(role))
    failures: list[str] = []
    for name, address in PAGES[role]:
        url = address(targets)
        page.set_viewport_size(DESKTOP)
        response = page.goto(url)
        assert response is not None
        expected = 404 if name == "not-found" else 200
        assert response.status == expected, f"{url} answered {response.status}"
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            failures += [f"{name} ({url}) {size}: {problem}" for problem in axe_problems(page)]
            shot(page, f"{name}-{size}")
        page.set_viewport_size(NARROWEST)
        wider = overflow(page)
        if wider > 0:
            failures.append(f"{name} ({url}) is {wider}px wider than a 360px screen: {page.evaluate(PAST_THE_EDGE)}")
    context.close()
    assert not failures, "\n".join(failures)


def test_the_menu_folds_on_a_phone_and_the_administration_group_opens_and_closes(  # type: ignore[no-untyped-def]
        new_context, live_server: LiveServer, shot) -> None:
    context = new_context(locale="ja-JP", viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_server.login_for("HR"))
    page.goto("/org/staff")
    menu = main_menu(page)
    group = admin_menu(page)
    staff = menu.get_by_role("link", name=whole("職員", "Staff"))

    # A desktop: HR's whole menu on one row, what HR manages folded into the group.
    tops = menu.locator(".main-nav__list > li").evaluate_all(
        "items => items.map(item => Math.round(item.getBoundingClientRect().top))")
    assert len(set(tops)) == 1, f"the main menu takes {len(set(tops))} rows at 1366 px"
    expect(staff).to_be_hidden()
    expect(group).to_have_attribute("data-current", "")  # the page shown is in the group
    group.focus()
    page.keyboard.press("Enter")
    expect(staff).to_be_visible()
    expect(staff).to_have_attribute("aria-current", "page")
    problems = axe_problems(page)
    assert not problems, "\n".join(problems)
    shot(page, "desktop-group-open")
    page.keyboard.press("Escape")
    expect(staff).to_be_hidden()
    expect(group).to_be_focused()
    group.click()
    expect(staff).to_be_visible()
    page.locator("main h1").click()
    expect(staff).to_be_hidden()

    # A phone: the menu and the account tools fold behind the menu button.
    page.set_viewport_size(PHONE)
    button = page.get_by_role("button", name=whole("メニュー", "Menu"))
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()
    expect(sign_out_button(page)).to_be_hidden()
    shot(page, "phone-menu-closed")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name=whole("ホーム", "Home"))).to_be_visible()
    expect(sign_out_button(page)).to_be_visible()
    group.click()
    expect(staff).to_be_visible()
    problems = axe_problems(page)
    assert not problems, "\n".join(problems)
    shot(page, "phone-menu-open")
    page.keyboard.press("Escape")  # closes the group first, then the menu
    expect(staff).to_be_hidden()
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    expect(menu).to_be_hidden()

    # The staff table: one card per person, each value led by its column's header.
    people = page.locator("main table.responsive")
    first_row = people.locator("tbody tr").first
    assert first_row.evaluate("row => getComputedStyle(row).display") == "block"
    headers = people.locator("thead th").all_inner_texts()
    labels = first_row.locator("td").evaluate_all("cells => cells.map(cell => cell.dataset.label)")
    assert labels == headers, "each cell carries its column's header"
    context.close()


def test_without_script_the_menu_stays_open_and_tables_scroll(  # type: ignore[no-untyped-def]
        new_context, live_server: LiveServer, shot) -> None:
    context = new_context(locale="ja-JP", viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server.login_for("manager"))
    page.goto("/team")
    expect(page.get_by_role("button", name=whole("メニュー", "Menu"))).to_be_hidden()
    expect(main_menu(page).get_by_role("link", name=whole("チーム", "My team"))).to_be_visible()
    expect(sign_out_button(page)).to_be_visible()
    people = page.locator("table.responsive").last
    assert people.locator("tbody tr").first.evaluate("row => getComputedStyle(row).display") == "table-row"
    assert overflow(page) <= 0, "the table scrolls inside its own box, not the page"
    shot(page, "phone-no-script")
    context.close()
