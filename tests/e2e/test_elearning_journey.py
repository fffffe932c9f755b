"""The e-learning journey: an employee opens ELEC-SECURITY-2020 (an e-learning course of
courses/, loaded by the demo with its pages and figures), starts the module, reads pages, leaves
and resumes where they left off, takes the closing quiz and gets the certificate.

The live server is shared by every browser test of the run: the learner is an account of this
test's own (a fresh 主任級 employee), so nothing another journey does changes what is seen here.
The quiz shuffles its questions: each is found by its text and answered from the course file.
"""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.completion.models import Completion
from app.core.db import db_session
from app.org.models import Employee, Unit
from tests import factories
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, sign_out_button, whole

pytestmark = pytest.mark.browser

CODE = "ELEC-SECURITY-2020"
MODULE = f"/learn/{CODE}/main"
PAGES = 6
# (a fragment of the question, the choices to tick) — from courses/elec-security-2020.md
ANSWERS = [
    ("添付ファイルを至急開く",
     ["添付ファイルは開かず、正規の連絡先に確認したうえで、不審な場合は情報システム担当に報告する"]),
    ("在宅勤務時の情報セキュリティ対策", ["自宅パソコンのOSやウイルス対策ソフトを最新に保つ",
                                       "作業を終えたら、在宅勤務システムの接続を確実に切断する"]),
    ("私用のクラウドストレージ", ["誤り"]),
]


def learner(live_server: LiveServer) -> tuple[str, str]:
    """A fresh chief-level employee of a demo division: (login, name)."""
    with live_server.app.app_context():
        division = db_session.scalar(select(Unit).where(Unit.parent_id.is_not(None)).order_by(Unit.id))
        person: Employee = factories.employee(division, "SHUNIN", name=f"学習 進{uuid.uuid4().hex[:4]}")
        return person.employee_number, person.name


def sign_in_as(page: Page, login: str) -> None:
    page.goto("/login")
    page.get_by_label(either("職員番号またはメールアドレス", "Employee number or e-mail")).fill(login)
    page.get_by_label(whole("パスワード", "Password")).fill(factories.PASSWORD)
    page.locator("main").get_by_role("button", name=whole("ログイン", "Sign in")).click()
    expect(sign_out_button(page)).to_be_visible()


def next_page(page: Page, number: int) -> None:
    """Press the page's button: saved, and on to the next page (or back to the module)."""
    expect(page).to_have_url(re.compile(rf"{re.escape(MODULE)}/pages/{number}$"))
    last = number == PAGES
    page.locator("main").get_by_role("button", name=whole("ページを読み終える", "Finish the pages") if last
                                     else whole("次のページへ", "Next page")).click()


def test_an_employee_studies_elec_security_at_their_own_pace_and_gets_a_certificate(new_context, live_server,
                                                                                     shot):
    base = live_server.url
    login, name = learner(live_server)
    context = new_context(locale="ja-JP")
    page: Page = context.new_page()
    sign_in_as(page, login)

    # --- the course page offers the e-learning; the module page lists its pages ----------------
    page.goto(f"/catalog/courses/{CODE}")
    panel = page.locator("section[aria-labelledby=elearning-heading]")
    expect(panel.get_by_role("heading", level=2)).to_have_text(whole("eラーニング", "E-learning"))
    shot(page, "01-course-page-with-e-learning")
    panel.get_by_role("link", name=whole("自分のペースで学ぶ", "Study at my own pace")).click()
    expect(page).to_have_url(base + MODULE)
    expect(page.locator("ol.checklist > li")).to_have_count(PAGES)
    expect(page.locator("main")).to_contain_text(either("未着手", "Not started"))
    shot(page, "02-module-not-started")

    # --- start, read two pages (the second shows a figure served by this site) ------------------
    page.locator("main").get_by_role("button", name=whole("学習を始める", "Start")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("なぜ今、情報セキュリティか")
    next_page(page, 1)
    expect(page.get_by_role("heading", level=1)).to_have_text("情報セキュリティの三要素")
    figure = page.locator("article.prose img")
    expect(figure).to_have_attribute("src", f"/elearning-media/{CODE}/cia.png")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=figure.element_handle())
    shot(page, "03-page-2-with-figure")
    next_page(page, 2)
    expect(page).to_have_url(f"{base}{MODULE}/pages/3")

    # --- leave, come back later: resume at page 3 -----------------------------------------------
    page.goto("/")
    page.goto(f"/catalog/courses/{CODE}")
    expect(panel).to_contain_text(either("学習中", "In progress"))
    panel.get_by_role("link", name=whole("開く", "Open")).click()
    expect(page.locator("#module-progress")).to_have_attribute("value", "2")
    resume = page.locator("main").get_by_role("button", name=whole("3 ページ目から再開する", "Resume at page 3"))
    shot(page, "04-module-resume-at-page-3")
    resume.click()
    expect(page).to_have_url(f"{base}{MODULE}/pages/3")
    for number in range(3, PAGES + 1):
        if number == PAGES:
            expect(page.locator("article.prose img")).to_have_attribute(
                "src", f"/elearning-media/{CODE}/incident-flow.png")
            shot(page, "05-last-page")
        next_page(page, number)

    # --- every page read: the quiz opens ---------------------------------------------------------
    expect(page).to_have_url(base + MODULE)
    expect(page.locator(".flash--success")).to_have_text(either("理解度テストを受けられます", "The quiz is open now"))
    quiz_panel = page.locator("section[aria-labelledby=quiz-heading]")
    quiz_panel.get_by_role("link", name=whole("理解度テストを受ける", "Take the quiz")).click()
    expect(page).to_have_url(f"{base}{MODULE}/quiz")
    page.locator("main").get_by_role("button", name=whole("テストを開始する", "Start the quiz")).click()
    expect(page).to_have_url(f"{base}{MODULE}/quiz")
    expect(page.locator("#quiz-timer")).to_be_visible()  # 10 minutes, enforced by the server
    for fragment, choices in ANSWERS:
        question = page.get_by_role("group", name=re.compile(re.escape(fragment)))
        for choice in choices:
            question.get_by_label(choice, exact=True).check()
    shot(page, "06-quiz-answered")
    page.locator("main").get_by_role("button", name=whole("提出する", "Submit")).click()
    expect(page).to_have_url(f"{base}{MODULE}/quiz/result")
    expect(page.locator("p.result .badge--ok")).to_have_text(whole("合格", "Passed"))
    shot(page, "07-quiz-passed")

    # --- the module and the course are complete: the certificate ---------------------------------
    page.goto(MODULE)
    done = page.locator("section[aria-labelledby=done-heading]")
    expect(done).to_be_visible()
    done.get_by_role("link", name=whole("修了証", "Certificate")).click()
    with live_server.app.app_context():
        code = db_session.scalar(select(Completion.certificate_code)
                                 .join(Employee, Employee.id == Completion.employee_id)
                                 .where(Employee.employee_number == login, Completion.revoked_at.is_(None)))
    assert code is not None
    expect(page).to_have_url(f"{base}/certificates/{code}")
    certificate = page.locator(".certificate")
    expect(certificate).to_contain_text(name)
    expect(certificate).to_contain_text("情報セキュリティ基礎")
    shot(page, "08-certificate")
    page.goto("/my-learning")
    expect(page.locator("section[aria-labelledby=elearning-heading]")).to_contain_text(either("修了", "Completed"))
    shot(page, "09-my-learning")
