"""The cohort journey of the smart-talent programme: an employee applies, their manager endorses,
HR selects them and forms a team, the team submits its fieldwork plan, the mentor returns it for
revision and then accepts the second version; finally the mentor scores the final presentation
against its rubric.

The live server is shared by every browser test of the run, and the demo employee may already
have applied to the demo cohort "第1期" (another run, another test). So HR first opens a cohort of
its own (a unique name) through /cohorts/manage, and everything after that is unique to this test.
Results are never published: that needs the application window to be closed, and selection,
teams and submissions work before it.

Each person has their own browser context. The demo users' languages are never changed; another
test may have left one of them in English, so texts are matched in both languages.
"""
from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from pypdf import PdfWriter
from sqlalchemy import select

from app.catalog.models import Course
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.org.models import Employee
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, main_menu, sign_in, whole

pytestmark = pytest.mark.browser

PROGRAMME_CODE = "SMART-2020"
PROGRAMME_TITLE_JA = "スマート人材育成プログラム"
HOST_DIVISION = "D0204"  # データ活用推進課, the demo employee's own division
MENTOR_LOGIN = "EXT0001"
QUESTIONS = ["所属で取り組みたい業務課題は何ですか。", "これまでのデジタル活用の経験を教えてください。"]
STATEMENT = "窓口業務の待ち時間をデータで見える化し、業務改善につなげたいと考えています。"
ANSWERS = ["補助金申請の受付から審査までの処理日数を短くしたい。", "Excelでの集計とBIツールでの可視化を担当しました。"]
RETURN_COMMENT = "現状の処理時間の測定方法を具体的に書いてください。"
ACCEPT_COMMENT = "測定方法が明確になりました。この計画で進めてください。"


@dataclass(frozen=True)
class People:
    employee: str  # names, as the pages show them
    mentor: str


def starts(*texts: str) -> re.Pattern[str]:
    return re.compile("^(?:" + "|".join(re.escape(text) for text in texts) + ")")


def signed_in_page(new_context, login: str, **options) -> tuple[BrowserContext, Page]:  # type: ignore[no-untyped-def]
    context: BrowserContext = new_context(locale="ja-JP", **options)
    page = context.new_page()
    sign_in(page, login)
    return context, page


def success(page: Page) -> Locator:
    return page.locator(".flash--success")


def no_error(page: Page) -> None:
    expect(page.locator(".flash--error")).to_have_count(0)


def score_plan(mentor: Page, levels: tuple[tuple[str, str], ...]) -> None:
    """Choose a level for each criterion of the plan's rubric (from courses/smart-2020.md)."""
    expect(mentor.locator("main form fieldset")).to_have_count(len(levels))
    for criterion, level in levels:
        mentor.get_by_role("group", name=criterion, exact=True).get_by_role(
            "radio", name=re.compile("^" + re.escape(level))).check()


def milestone_section(page: Page, *names: str) -> Locator:
    """The panel of one milestone on the work page (its heading carries the status badge)."""
    return page.locator("main section.panel").filter(
        has=page.get_by_role("heading", level=2, name=starts(*names)))


def plan_section(page: Page) -> Locator:
    return milestone_section(page, "フィールドワーク計画", "Fieldwork plan")


def a_pdf(title: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    assert data.startswith(b"%PDF-")
    return data


def people(live_server: LiveServer) -> tuple[People, int]:
    """Names of the demo employee and mentor, and the programme's id (read only)."""
    with live_server.app.app_context():
        def name(login: str) -> str:
            found = db_session.scalar(select(Employee.name).where(Employee.employee_number == login))
            assert found is not None, login
            return found

        programme_id = db_session.scalar(select(Course.id).where(Course.code == PROGRAMME_CODE))
        assert programme_id is not None
        return People(employee=name(live_server.login_for("employee")), mentor=name(MENTOR_LOGIN)), programme_id


def local(value: datetime) -> str:
    """What an <input type="datetime-local"> takes, in Japan time."""
    return value.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def test_employee_applies_manager_endorses_hr_selects_and_forms_a_team_mentor_returns_then_accepts_the_plan(
        new_context, live_server, shot):
    base = live_server.url
    who, programme_id = people(live_server)
    suffix = uuid.uuid4().hex[:6].upper()
    cohort_name = f"E2E-{suffix}期"
    team_name = f"データ活用チーム {suffix}"
    cohort_title = re.compile(r"(?:スマート人材育成プログラム|Smart Talent Development Programme) "
                              + re.escape(cohort_name))

    # --- HR opens a cohort of its own -----------------------------------------------------------
    hr_context, hr = signed_in_page(new_context, live_server.login_for("HR"))
    main_menu(hr).get_by_role("link", name=whole("スマート人材育成", "Smart-talent programme")).click()
    hr.locator("main").get_by_role("link", name=whole("期の管理", "Manage cohorts")).click()
    expect(hr).to_have_url(base + "/cohorts/manage")
    hr.get_by_label(whole("プログラム", "Programme")).select_option(str(programme_id))
    hr.get_by_label(whole("期の名称", "Name of the cohort")).fill(cohort_name)
    current = now()
    hr.get_by_label(whole("応募開始", "Applications open")).fill(local(current - timedelta(days=1)))
    hr.get_by_label(whole("応募締切", "Applications close")).fill(local(current + timedelta(days=30)))
    hr.get_by_label(whole("定員", "Quota")).fill("12")
    expect(hr.get_by_label(whole("応募フォームの質問（1行に1問）", "Questions on the application form (one per line)"))
           ).to_have_value("\n".join(QUESTIONS))
    shot(hr, "01-hr-opens-a-cohort")
    hr.locator("main").get_by_role("button", name=whole("応募受付を開始する", "Open the cohort")).click()
    expect(success(hr)).to_have_text(either("応募受付を開始しました", "Cohort opened for applications"))
    expect(hr).to_have_url(re.compile(re.escape(base) + r"/cohorts/(\d+)/selection$"))
    match = re.search(r"/cohorts/(\d+)/selection$", hr.url)
    assert match is not None
    cohort_id = int(match.group(1))
    expect(hr.get_by_role("heading", level=1)).to_contain_text(cohort_name)
    expect(hr.locator("main")).to_contain_text(either("まだ応募はありません", "No applications yet"))

    # --- the employee finds the cohort and applies ----------------------------------------------
    employee_context, page = signed_in_page(new_context, live_server.login_for("employee"), accept_downloads=True)
    main_menu(page).get_by_role("link", name=whole("スマート人材育成", "Smart-talent programme")).click()
    expect(page).to_have_url(base + "/cohorts/")
    page.locator("main").get_by_role("link", name=cohort_title).click()
    expect(page).to_have_url(f"{base}/cohorts/{cohort_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(cohort_title)
    page.get_by_label(whole("志望動機", "Statement of motivation")).fill(STATEMENT)
    page.get_by_role("group", name=whole("取り組みたいテーマ", "The theme you want to work on")).get_by_role(
        "radio", name=whole("スマートワークスタイル", "Smart Workstyle")).check()
    for question, answer in zip(QUESTIONS, ANSWERS, strict=True):
        page.get_by_label(question, exact=True).fill(answer)
    shot(page, "02-employee-application-filled")
    page.locator("main").get_by_role("button", name=whole("応募する", "Apply")).click()
    expect(page).to_have_url(f"{base}/cohorts/{cohort_id}")
    expect(success(page)).to_contain_text(either("応募ありがとうございます", "Thank you for applying"))
    expect(page.get_by_role("heading", level=2, name=whole("あなたの応募", "Your application"))).to_be_visible()
    expect(page.get_by_label(whole("志望動機", "Statement of motivation"))).to_have_value(STATEMENT)
    shot(page, "03-employee-applied")

    # --- the manager endorses it -----------------------------------------------------------------
    manager_context, manager = signed_in_page(new_context, live_server.login_for("manager"))
    main_menu(manager).get_by_role("link", name=whole("スマート人材育成", "Smart-talent programme")).click()
    manager.locator("main").get_by_role("link", name=whole("応募の推薦", "Endorse applications")).click()
    expect(manager).to_have_url(base + "/cohorts/endorsements")
    request = manager.locator("main section.panel").filter(has=manager.get_by_role("heading", level=2, name=re.compile(
        re.escape(who.employee) + ".*" + re.escape(cohort_name))))
    expect(request).to_have_count(1)
    expect(request).to_contain_text(STATEMENT)
    request.get_by_label(whole("コメント", "Comment")).fill("業務改善への意欲が高く、推薦します。")
    shot(manager, "04-manager-endorses")
    request.get_by_role("button", name=whole("推薦する", "Endorse")).click()
    expect(manager).to_have_url(base + "/cohorts/endorsements")
    expect(success(manager)).to_have_text(either("判断を記録しました", "Your decision was recorded"))
    expect(request).to_have_count(0)
    manager_context.close()

    # --- HR selects the employee -------------------------------------------------------------------
    hr.reload()
    row = hr.get_by_role("row").filter(has=hr.get_by_role("rowheader", name=who.employee, exact=True))
    expect(row).to_have_count(1)
    expect(row.locator(".badge--ok")).to_have_text(whole("推薦済み", "endorsed"))
    expect(row).to_contain_text("業務改善への意欲が高く、推薦します。")
    row.get_by_role("button", name=whole("選出する", "Select for the cohort")).click()
    expect(hr).to_have_url(f"{base}/cohorts/{cohort_id}/selection")
    no_error(hr)
    expect(success(hr)).to_contain_text(who.employee)
    expect(hr.locator(".stat-row__n").first).to_have_text("1 / 12")
    expect(row.get_by_role("button", name=whole("選出する", "Select for the cohort"))).to_have_count(0)
    expect(row.get_by_role("button", name=whole("取り消す", "Undo"))).to_be_visible()
    row.get_by_text(whole("読む", "Read")).click()  # open the statement and answers for the screenshot
    expect(row).to_contain_text(ANSWERS[0])
    shot(hr, "05-hr-selection")

    # --- … and forms a team with the demo mentor ------------------------------------------------
    hr.goto(f"/cohorts/{cohort_id}/teams")
    expect(hr.locator("main")).to_contain_text(either("まだチームはありません", "No teams yet"))
    hr.get_by_label(whole("チーム名", "Team name")).fill(team_name)
    hr.get_by_label(whole("受入所属（所属コード）", "Host division (unit code)")).fill(HOST_DIVISION)
    hr.get_by_label(whole("テーマ", "Theme")).select_option("smart_workstyle")
    hr.get_by_label(whole("メンター（職員番号）", "Mentors (employee numbers)")).fill(MENTOR_LOGIN)
    hr.get_by_role("group", name=whole("メンバー", "Members")).get_by_label(who.employee, exact=True).check()
    hr.get_by_label(whole("受入所属の課題", "The host division's problem")).fill(
        "補助金申請の審査に時間がかかっている。")
    hr.locator("main").get_by_role("button", name=whole("チームを編成する", "Form the team")).click()
    expect(hr).to_have_url(f"{base}/cohorts/{cohort_id}/teams")
    no_error(hr)
    expect(success(hr)).to_have_text(either("チームを編成しました", "Team formed"))
    team_panel = hr.locator("main section.panel").filter(has=hr.get_by_role("heading", level=2, name=team_name))
    expect(team_panel).to_contain_text(either("データ活用推進課", "Data Utilisation Division"))
    expect(team_panel).to_contain_text(who.employee)
    expect(team_panel).to_contain_text(who.mentor)
    shot(hr, "06-hr-team-formed")

    # --- the team submits its plan with a PDF ---------------------------------------------------
    plan_pdf = a_pdf("フィールドワーク計画 第1版")
    page.goto(f"/cohorts/{cohort_id}/work")
    expect(page.get_by_role("heading", level=1)).to_contain_text(cohort_name)
    expect(page.locator("main")).to_contain_text(team_name)
    expect(page.locator("main")).to_contain_text(who.mentor)
    plan = plan_section(page)
    expect(plan).to_have_count(1)
    expect(page.locator("main section.panel h2").first).to_have_text(starts("フィールドワーク計画", "Fieldwork plan"))
    expect(plan.get_by_role("heading", level=2)).to_contain_text(either("未提出", "Not submitted"))
    # the rubric the mentor will grade by is shown before submitting (open while nothing is submitted)
    expect(plan.locator("details table.rubric")).to_contain_text("計画の実現性")
    plan.get_by_label(whole("本文（Markdown）", "Text (Markdown)")).fill(
        "## 目的\n\n補助金申請の処理日数を短くする。\n\n"
        "## 進め方\n\n1. 現状の処理時間を測る\n2. ボトルネックを特定する\n")
    plan.get_by_label(starts("ファイル", "Files")).set_input_files(
        {"name": "plan.pdf", "mimeType": "application/pdf", "buffer": plan_pdf})
    shot(page, "07-employee-plan-filled")
    plan.get_by_role("button", name=whole("提出する", "Submit")).click()
    expect(page).to_have_url(f"{base}/cohorts/{cohort_id}/work")
    no_error(page)
    expect(success(page)).to_contain_text(either("提出しました", "Submitted."))
    expect(plan.get_by_role("heading", level=2)).to_contain_text(either("提出済み", "Submitted"))
    first_version = plan.get_by_role("link", name=whole("第1版", "Version 1"))
    expect(first_version).to_have_count(1)
    first_url = base + (first_version.get_attribute("href") or "")
    assert re.search(r"/cohorts/submissions/\d+$", first_url), first_url

    # --- the mentor sees it on the board and returns it for revision ----------------------------
    mentor_context, mentor = signed_in_page(new_context, MENTOR_LOGIN)
    mentor.goto(f"/cohorts/{cohort_id}/board")
    expect(mentor.get_by_role("heading", level=1)).to_contain_text(cohort_name)
    board_row = mentor.get_by_role("row").filter(has=mentor.get_by_role("rowheader", name=who.employee, exact=True))
    expect(board_row).to_have_count(1)
    expect(board_row).to_contain_text(team_name)
    # The plan's column: the state is what is seen; the person and milestone follow as hidden
    # text, so the link's accessible name starts with what is on screen (WCAG 2.5.3).
    expect(board_row.locator("td").nth(2)).to_have_text(re.compile(r"^(?:提出済み|Submitted)(?:\s|$)"))
    shot(mentor, "08-mentor-board")
    mentor.goto(first_url)
    expect(mentor.get_by_role("heading", level=1)).to_have_text(re.compile(
        r"^(?:フィールドワーク計画|Fieldwork plan) — (?:第1版|Version 1) (?:提出済み|Submitted)$"))
    expect(mentor.locator("main article.prose")).to_contain_text("ボトルネックを特定する")
    expect(mentor.get_by_role("link", name="plan.pdf", exact=True)).to_be_visible()
    score_plan(mentor, (("課題の把握", "概ね"), ("計画の実現性", "一部"), ("役割分担", "十分")))
    mentor.get_by_label(whole("コメント", "Comment")).fill(RETURN_COMMENT)
    shot(mentor, "09-mentor-reviews-version-1")
    mentor.locator("main").get_by_role("button", name=whole("修正を依頼する", "Return for revision")).click()
    expect(mentor).to_have_url(first_url)
    no_error(mentor)
    expect(success(mentor)).to_have_text(either("確認結果を保存しました", "Review saved"))
    expect(mentor.get_by_role("heading", level=1)).to_contain_text(either("修正依頼", "Returned for revision"))
    expect(mentor.locator("main")).to_contain_text(RETURN_COMMENT)
    expect(mentor.locator("main").get_by_role("button", name=whole("承認する", "Accept"))).to_have_count(0)

    # --- the employee reads the request, checks the file and submits version 2 ------------------
    page.reload()
    expect(plan.get_by_role("heading", level=2)).to_contain_text(either("修正依頼", "Returned for revision"))
    first_version.click()
    expect(page).to_have_url(first_url)
    expect(page.locator("main")).to_contain_text(RETURN_COMMENT)
    expect(page.locator("main").get_by_role("button", name=whole("修正を依頼する", "Return for revision"))
           ).to_have_count(0)  # a team member does not review
    scores = page.locator("main table.rubric").filter(has_text=either("観点ごとの評価", "Scores by criterion"))
    expect(scores.get_by_role("row").filter(has_text="計画の実現性")).to_contain_text("2 / 4")  # 一部: 2 of 4
    file_link = page.get_by_role("link", name="plan.pdf", exact=True)
    file_url = base + (file_link.get_attribute("href") or "")
    with page.expect_download() as download_info:
        file_link.click()
    download = download_info.value
    assert download.suggested_filename == "plan.pdf"
    assert Path(download.path()).read_bytes() == plan_pdf
    shot(page, "10-employee-reads-the-request")

    page.goto(f"/cohorts/{cohort_id}/work")
    plan.get_by_label(whole("本文（Markdown）", "Text (Markdown)")).fill(
        "## 目的\n\n補助金申請の処理日数を短くする。\n\n## 現状の測定\n\n受付システムの記録から、"
        "受付日と決定日の差を1か月分集計する。\n")
    plan.get_by_label(starts("ファイル", "Files")).set_input_files(
        {"name": "plan-v2.pdf", "mimeType": "application/pdf", "buffer": a_pdf("フィールドワーク計画 第2版")})
    plan.get_by_role("button", name=whole("新しい版を提出", "Submit a new version")).click()
    no_error(page)
    expect(success(page)).to_contain_text(either("提出しました", "Submitted."))
    second_version = plan.get_by_role("link", name=whole("第2版", "Version 2"))
    expect(second_version).to_have_count(1)
    expect(plan.get_by_role("heading", level=2)).to_contain_text(either("提出済み", "Submitted"))
    second_url = base + (second_version.get_attribute("href") or "")
    assert second_url != first_url
    shot(page, "11-employee-submitted-version-2")

    # --- the mentor accepts version 2 -----------------------------------------------------------
    mentor.goto(second_url)
    expect(mentor.get_by_role("heading", level=1)).to_contain_text(either("第2版", "Version 2"))
    expect(mentor.locator("main article.prose")).to_contain_text("受付日と決定日の差")
    score_plan(mentor, (("課題の把握", "十分"), ("計画の実現性", "概ね"), ("役割分担", "十分")))
    mentor.get_by_label(whole("コメント", "Comment")).fill(ACCEPT_COMMENT)
    mentor.locator("main").get_by_role("button", name=whole("承認する", "Accept")).click()
    expect(mentor).to_have_url(second_url)
    no_error(mentor)
    expect(success(mentor)).to_have_text(either("確認結果を保存しました", "Review saved"))
    expect(mentor.get_by_role("heading", level=1)).to_contain_text(either("承認済み", "Accepted"))
    expect(mentor.locator("main")).to_contain_text(ACCEPT_COMMENT)
    expect(mentor.locator("main")).to_contain_text(either("12点中11点", "11 of 12 points"))
    shot(mentor, "12-mentor-accepted-version-2")

    page.reload()
    expect(plan.get_by_role("heading", level=2)).to_contain_text(either("承認済み", "Accepted"))
    expect(plan.get_by_role("button")).to_have_count(0)  # nothing more to submit for the plan
    expect(plan.get_by_role("listitem").filter(has_text=either("第1版", "Version 1"))).to_contain_text(
        either("修正依頼", "Returned for revision"))
    shot(page, "13-employee-plan-accepted")

    # --- someone outside the team cannot read the work ------------------------------------------
    admin_context, _admin = signed_in_page(new_context, live_server.login_for("admin"))
    assert admin_context.request.get(file_url).status == 403
    assert admin_context.request.get(first_url).status == 403
    assert admin_context.request.get(f"{base}/cohorts/{cohort_id}/work").status == 403
    admin_context.close()

    # --- the final presentation is scored against its rubric ------------------------------------
    page.goto(f"/cohorts/{cohort_id}/work")
    presentation = milestone_section(page, "最終発表", "Final presentation")
    presentation.get_by_label(whole("本文（Markdown）", "Text (Markdown)")).fill("最終発表のスライドです。")
    presentation.get_by_label(starts("ファイル", "Files")).set_input_files(
        {"name": "slides.pdf", "mimeType": "application/pdf", "buffer": a_pdf("最終発表")})
    presentation.get_by_role("button", name=whole("提出する", "Submit")).click()
    no_error(page)
    slides_url = base + (presentation.get_by_role("link", name=whole("第1版", "Version 1")).get_attribute("href") or "")
    mentor.goto(slides_url)
    rubric = mentor.locator("main form fieldset")
    expect(rubric).to_have_count(3)
    for criterion, level in (("課題設定", "十分"), ("解決策の実効性", "概ね"), ("発表・伝達", "十分")):
        mentor.get_by_role("group", name=criterion, exact=True).get_by_role(
            "radio", name=re.compile("^" + re.escape(level))).check()
    shot(mentor, "14-mentor-scores-the-presentation")
    mentor.locator("main").get_by_role("button", name=whole("承認する", "Accept")).click()
    no_error(mentor)
    expect(mentor.locator("main")).to_contain_text(either("12点中11点", "11 of 12 points"))
    mentor.goto(f"/cohorts/{cohort_id}/board")
    expect(board_row.locator("td").nth(2)).to_have_text(re.compile(r"^(?:承認済み|Accepted)(?:\s|$)"))
    expect(board_row).to_contain_text("92%")
    shot(mentor, "15-mentor-board-after-reviews")

    mentor_context.close()
    employee_context.close()
    hr_context.close()
