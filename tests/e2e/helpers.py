"""Helpers shared by the browser journeys: text patterns that match the Japanese text or the
English msgid (so a journey survives either language), the main menu, and signing in."""
from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from app.demo.organisation import DEMO_PASSWORD


def either(*texts: str) -> re.Pattern[str]:
    """A pattern matching any of the texts (Japanese or the English msgid)."""
    return re.compile("|".join(re.escape(text) for text in texts))


def whole(*texts: str) -> re.Pattern[str]:
    """A pattern matching exactly one of the texts."""
    return re.compile("^(?:" + "|".join(re.escape(text) for text in texts) + ")$")


def main_menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name=either("メインメニュー", "Main menu"))


def admin_menu(page: Page) -> Locator:
    """The group of the main menu that folds what HR and administrators manage (curriculum design,
    staff, outbox …, and for HR attendance and grading too): click it to show its links."""
    return main_menu(page).locator("summary", has_text=whole("管理", "Administration"))


def sign_out_button(page: Page) -> Locator:
    return page.locator(".header-tools").get_by_role("button", name=whole("ログアウト", "Sign out"))


def sign_in(page: Page, login: str) -> None:
    """Sign in with the demo password and wait until the header shows the sign-out button."""
    page.goto("/login")
    page.get_by_label(either("職員番号またはメールアドレス", "Employee number or e-mail")).fill(login)
    page.get_by_label(whole("パスワード", "Password")).fill(DEMO_PASSWORD)
    page.locator("main").get_by_role("button", name=whole("ログイン", "Sign in")).click()
    expect(sign_out_button(page)).to_be_visible()
