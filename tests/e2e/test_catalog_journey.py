"""The catalog journey: an HR user creates a course with the editor, previews and publishes it;
an employee finds it by a half-width search and opens it.

The live server is shared by every browser test of the run, so the course gets a code of its own
and the employee's language is left as it was found.
"""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from app.demo.organisation import DEMO_PASSWORD
from tests.e2e.helpers import admin_menu

pytestmark = pytest.mark.browser

# The title is typed with full-width letters; the employee searches with half-width ones:
# 'rpa' (ASCII) and 'ﾜｰｸｼｮｯﾌﾟ' (half-width katakana) must both fold onto it.
TITLE_JA = "ＲＰＡ業務改善ワークショップ"
TITLE_EN = "RPA workshop for process improvement"
HALF_WIDTH_KEYWORD = "rpa ﾜｰｸｼｮｯﾌﾟ"
HEADING = "研修のねらい"
BODY_MD = f"""## {HEADING}

定型業務を **RPA** で自動化し、業務改善の進め方を身につけます。

- 対象業務の棚卸し
- シナリオの作成と試行

<img src="missing.png" onerror="document.body.dataset.injected = 'yes'">
"""


def sign_in(page: Page, login: str) -> None:
    page.goto("/login")
    page.get_by_label("職員番号またはメールアドレス").fill(login)
    page.get_by_label("パスワード", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(re.compile(r"^[^?]*/$"))  # home, in whichever language the account keeps
    expect(page.locator(".header-tools .whoami")).to_be_visible()


def sign_out(page: Page) -> None:
    page.locator(".header-tools").get_by_role("button", name="ログアウト").click()
    expect(page.get_by_role("status")).to_have_text("ログアウトしました。")


def test_hr_publishes_a_course_and_an_employee_finds_it_by_half_width_search(new_context, live_server, shot):
    code = f"E2E-RPA-2026-{uuid.uuid4().hex[:6].upper()}"
    context = new_context(locale="ja-JP")
    page: Page = context.new_page()

    # --- HR: design, preview, save, publish -------------------------------------------------
    sign_in(page, live_server.login_for("HR"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    admin_menu(page).click()
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="カリキュラム設計").click()
    expect(page).to_have_url(live_server.url + "/catalog/design/")
    expect(page.get_by_role("heading", level=1)).to_have_text("カリキュラム設計")
    shot(page, "01-hr-curriculum-design")

    page.get_by_role("link", name="研修を新規作成").click()
    expect(page).to_have_url(live_server.url + "/catalog/design/new")
    page.get_by_label("コード", exact=True).fill(code)
    expect(page.get_by_label("種別", exact=True)).to_have_value("course")
    page.get_by_label("研修名（日本語）", exact=True).fill(TITLE_JA)
    page.get_by_label("研修名（英語）", exact=True).fill(TITLE_EN)
    page.get_by_label("区分", exact=True).select_option(label="選択研修")
    page.get_by_label("テーマ", exact=True).select_option(label="スマートワークスタイル")
    page.get_by_label("実施形式", exact=True).select_option(label="オンライン（Web会議）")
    page.get_by_label("時間数", exact=True).fill("3.5")
    page.get_by_label("年度", exact=True).fill("2026")
    target_grades = page.get_by_role("group", name="対象職級")
    target_grades.get_by_label("主任級", exact=True).check()
    expect(target_grades.get_by_role("checkbox", checked=True)).to_have_count(1)
    page.get_by_label("必要出席率（%）", exact=True).fill("80")

    preview = page.locator("#markdown-preview")
    page.get_by_label("説明（Markdown）", exact=True).fill(BODY_MD)
    # The server renders and sanitises the preview: the heading arrives, the <img onerror> does not.
    expect(preview.get_by_role("heading", level=2)).to_have_text(HEADING)
    expect(preview.locator("strong")).to_have_text("RPA")
    expect(preview.locator("li")).to_have_text(["対象業務の棚卸し", "シナリオの作成と試行"])
    expect(preview.locator("img")).to_have_count(0)
    assert page.evaluate("document.body.dataset.injected") is None
    shot(page, "02-hr-new-course-with-preview")

    page.get_by_role("button", name="保存", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/catalog/courses/{code}")
    expect(page.get_by_role("status")).to_have_text("下書きとして保存しました。内容を確認してから公開してください。")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE_JA)
    expect(page.locator(".notice")).to_have_text("状態: 下書き")
    shot(page, "03-hr-draft-saved")

    page.get_by_role("button", name="公開…").click()  # first what publishing does; nothing changes yet
    expect(page.get_by_role("heading", level=1)).to_have_text(f"「{TITLE_JA}」を公開しますか？")
    expect(page.locator("#consequence")).to_contain_text("下書きには戻せません。")
    shot(page, "04a-hr-publish-preview")
    page.get_by_role("button", name="公開する").click()
    expect(page).to_have_url(f"{live_server.url}/catalog/courses/{code}")
    expect(page.get_by_role("status")).to_have_text(f"公開しました：{TITLE_JA}")
    expect(page.locator(".notice")).to_have_count(0)
    expect(page.get_by_role("button", name="公開…")).to_have_count(0)
    designer_panel = page.locator("section.panel").filter(
        has=page.get_by_role("heading", name="カリキュラム設計", exact=True))
    expect(designer_panel).to_contain_text("第1版 · 公開中")
    shot(page, "04-hr-published")

    page.goto("/catalog/design/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=TITLE_JA))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(code)
    expect(row.locator(".badge")).to_have_text("公開中")
    sign_out(page)

    # --- the employee (主任級): half-width search, open the course ---------------------------
    sign_in(page, live_server.login_for("employee"))
    # Another test may have left the shared demo employee in English: use Japanese, then restore.
    restore_english = page.locator("html").get_attribute("lang") == "en"
    if restore_english:
        page.get_by_role("button", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="カリキュラム設計")) \
        .to_have_count(0)

    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="研修一覧").click()
    expect(page).to_have_url(live_server.url + "/catalog/")
    expect(page.get_by_role("heading", level=1)).to_have_text("研修一覧")
    search = page.get_by_role("search")
    search.get_by_label("キーワード").fill(HALF_WIDTH_KEYWORD)
    shot(page, "05-employee-catalog-half-width-keyword")
    search.get_by_role("button", name="検索").click()

    expect(page).to_have_url(re.compile(r"/catalog/\?q=rpa"))
    expect(search.get_by_label("キーワード")).to_have_value(HALF_WIDTH_KEYWORD)
    expect(page.get_by_role("status")).to_have_text("研修・プログラム 1 件")
    cards = page.locator("ul.cards > li.card")
    expect(cards).to_have_count(1)
    card = cards.first
    expect(card.get_by_role("heading", level=2)).to_have_text(TITLE_JA)
    expect(card).to_contain_text("選択研修")
    expect(card).to_contain_text("スマートワークスタイル")
    expect(card).to_contain_text("あなたの職級向け")
    expect(card).to_contain_text("対象: 主任級")
    shot(page, "06-employee-search-result")

    card.get_by_role("link", name=TITLE_JA).click()
    expect(page).to_have_url(f"{live_server.url}/catalog/courses/{code}")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE_JA)
    expect(page.get_by_text("あなたの職級向け")).to_be_visible()
    description = page.locator("article.prose")
    expect(description.get_by_role("heading", level=2)).to_have_text(HEADING)
    expect(description.locator("strong")).to_have_text("RPA")
    expect(description.locator("li")).to_have_text(["対象業務の棚卸し", "シナリオの作成と試行"])
    expect(description.locator("img")).to_have_count(0)
    expect(page.locator(".facts")).to_contain_text("主任級")
    expect(page.locator(".notice")).to_have_count(0)
    expect(page.get_by_role("button", name="公開…")).to_have_count(0)  # no designer panel for staff
    expect(page.get_by_role("link", name="編集")).to_have_count(0)
    assert page.evaluate("document.body.dataset.injected") is None
    shot(page, "07-employee-course-page")

    if restore_english:
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    context.close()
