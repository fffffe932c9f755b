"""The home page for every demo role: each signs in and finds one panel of things to do per role
they have (a region labelled by its heading), the panels the demo fills listing things whose links
open, on a desktop screen and on a phone (one column, nothing wider than the screen).

What the demo (`flask demo load`, app/demo/) fills is asserted only where it does so today; the
other panels must be there, filled or saying there is nothing to do. The live server is shared by
the browser tests; this one writes nothing. Texts match in Japanese or English (another journey may
have left an account in English)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, sign_in, whole

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

PANEL_HEADINGS = {
    "employee": ("わたしのやること", "My things to do"),
    "manager": ("チーム：判断と確認", "My team: to decide and follow up"),
    "hr": ("研修担当", "Training office"),
    "teaching": ("講師・メンター", "Teaching and mentoring"),
}
EMPTY_LINES = ("今、やることはありません", "Nothing to do right now", "判断待ちの申込み・推薦はなく",
               "Nothing waits for you", "今、研修担当の対応が必要なものはありません",
               "Nothing needs the training office", "本日の担当研修はなく", "No class today")

# demo role -> (the panels on their home page, those the current demo fills)
ROLES = {
    "employee": (("employee",), ("employee",)),
    "manager": (("employee", "manager"), ("employee", "manager")),
    "department head": (("employee", "manager"), ("manager",)),
    "HR": (("employee", "hr"), ("employee", "hr")),
    "instructor": (("employee", "teaching"), ("employee", "teaching")),
    "mentor": (("employee", "teaching"), ("teaching",)),
    "admin": (("employee",), ("employee",)),
}


def panel(page: Page, name: str) -> Locator:
    return page.locator("main").get_by_role("region", name=whole(*PANEL_HEADINGS[name]))


def assert_links_open(page: Page, region: Locator) -> None:
    """Every thing listed links to a page that opens for this person (no 403, 404 or 500)."""
    hrefs = {link.get_attribute("href") for link in region.locator("ul.home-list a").all()}
    assert hrefs, "a filled panel lists something"
    for href in sorted(h for h in hrefs if h):
        response = page.request.get(href.split("#")[0])
        assert response.status == 200, (href, response.status)


@pytest.mark.parametrize("role", list(ROLES))
def test_every_demo_role_finds_a_panel_per_role_on_the_home_page(new_context, live_server: LiveServer, shot,
                                                                 role: str) -> None:
    shown, filled = ROLES[role]
    context = new_context(locale="ja-JP", viewport=DESKTOP)
    page: Page = context.new_page()
    sign_in(page, live_server.login_for(role))
    page.goto("/")
    expect(page.locator("main .home-panel")).to_have_count(len(shown))
    for name in PANEL_HEADINGS:
        expect(panel(page, name)).to_have_count(1 if name in shown else 0)
    for name in shown:
        region = panel(page, name)
        expect(region.get_by_role("heading", level=2)).to_have_text(whole(*PANEL_HEADINGS[name]))
        if name in filled:
            expect(region.get_by_role("listitem").first).to_be_visible()
            expect(region.get_by_text(either(*EMPTY_LINES))).to_have_count(0)
            assert_links_open(page, region)
        elif not region.get_by_role("listitem").count():
            expect(region.get_by_text(either(*EMPTY_LINES))).to_have_count(1)
    shot(page, "1366x768")

    page.set_viewport_size(PHONE)
    for name in shown:  # one column: each panel fits the screen
        box = panel(page, name).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, (name, box)
    shot(page, "390x844")
    context.close()


def test_the_demo_employee_can_check_in_from_the_home_page(new_context, live_server: LiveServer, shot) -> None:
    """The demo runs a session today with check-in open: the employee's button leads to the code form."""
    context = new_context(locale="ja-JP", viewport=DESKTOP)
    page: Page = context.new_page()
    sign_in(page, live_server.login_for("employee"))  # the header's sign-out button shows at this width
    page.set_viewport_size(PHONE)
    page.goto("/")
    button = panel(page, "employee").get_by_role("link", name=either("出席を登録する", "Check in"))
    expect(button).to_have_count(1)
    button.click()
    expect(page).to_have_url(re.compile(r"/attendance/check-in/\d+$"))
    expect(page.locator("main input[name=code]")).to_be_visible()
    shot(page, "check-in-form")
    context.close()
