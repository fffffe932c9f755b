"""The first journey: a Japanese-speaking employee signs in, switches to English, signs out."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.demo.organisation import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def test_employee_signs_in_in_japanese_switches_to_english_and_signs_out(new_context, live_server, shot):
    context = new_context(locale="ja-JP")
    page: Page = context.new_page()

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    shot(page, "01-sign-in-page-ja")

    # Keyboard: the first Tab lands on the skip link, Enter moves focus to <main>.
    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name="本文へスキップ")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_visible()
    shot(page, "02-skip-link-focused")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

    page.get_by_label("職員番号またはメールアドレス").fill(live_server.login_for("employee"))
    page.get_by_label("パスワード", exact=True).fill(DEMO_PASSWORD)
    shot(page, "03-credentials-filled")
    page.get_by_label("パスワード", exact=True).press("Enter")  # submit from the keyboard as well

    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    sign_out = page.locator(".header-tools").get_by_role("button", name="ログアウト")
    expect(sign_out).to_be_visible()
    expect(page.get_by_role("navigation", name="メインメニュー")).to_be_visible()
    shot(page, "04-home-ja")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("button", name="日本語")).to_be_visible()
    shot(page, "05-home-en")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live_server.url + "/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    shot(page, "06-signed-out")

    # Leave the shared demo account as it was (Japanese) for the other journeys.
    page.get_by_label("Employee number or e-mail").fill(live_server.login_for("employee"))
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    page.get_by_role("button", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")


def test_sign_in_page_fits_a_phone_without_horizontal_scroll(new_context, shot):
    context = new_context(locale="ja-JP", viewport={"width": 375, "height": 812}, is_mobile=True,
                          has_touch=True, device_scale_factor=2)
    page: Page = context.new_page()
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    shot(page, "phone-375x812")
    assert scroll_width <= inner_width, f"page is {scroll_width}px wide on a {inner_width}px screen"
