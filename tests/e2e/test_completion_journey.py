"""The completion journey: an instructor shows the check-in code, an employee checks in, takes the
quiz, answers the survey, and downloads a certificate.

The live server is shared by every browser test of the run. The course, its session and the
enrolment are the test's own (a unique code); the demo instructor teaches it and the demo employee
(主任級) takes it. Their languages are never changed; another test may have left one of them in
English, so texts are matched in both languages.

Completion needs 100% attendance, the quiz passed and the survey answered. The single meeting is
happening now (it started 10 minutes ago; check-in is open only around a meeting): the check-in
secures the attendance (no meeting is left to miss), so the survey, the last input, completes the
course at once: the certificate is there without waiting for the end of the meeting or for the
after-session sweep of the scheduler.
"""
from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from app.assessment.models import SurveyQuestionKind
from app.assessment.quizzes import materialize_quiz
from app.assessment.surveys import DEFAULT_QUESTIONS
from app.catalog.course_files import CourseSpec, validate_quiz
from app.catalog.services import publish_course, save_course
from app.completion.models import Completion
from app.completion.services import valid_completion
from app.core.clock import now
from app.core.db import db_session
from app.core.fiscal import era_date
from app.enrollment.models import Enrolment, EnrolmentState
from app.enrollment.services import enrol
from app.org.models import Employee
from app.scheduling.models import ApprovalPolicy, TrainingSession
from app.scheduling.services import SessionDetails, schedule_session
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, main_menu, sign_in, whole

pytestmark = pytest.mark.browser

MEETING_LEFT = timedelta(minutes=20)  # the meeting ends this long after the setup
QUESTIONS = [  # (text, choices, index of the correct choice)
    ("庁内で個人情報を含むファイルを外部に送るとき、最初に確認すべきことはどれですか。",
     ["送付先と送付方法が規程で認められているか", "ファイルの大きさ", "送信する時刻"], 0),
    ("業務改善の最初の一歩として適切なものはどれですか。",
     ["新しいシステムをすぐに購入する", "現在の作業手順を書き出して時間のかかる所を見つける", "担当者を増やす"], 1),
]
COMMENT = "実習が多く、担当業務ですぐに試せる内容でした。"


@dataclass(frozen=True)
class Journey:
    code: str
    title: re.Pattern[str]
    title_ja: str
    meeting_id: int
    enrolment_id: int
    meeting_ends_at: datetime
    employee_name: str


def progress_panel(page: Page) -> Locator:
    return page.locator("section[aria-labelledby=progress-heading]")


def set_up(live_server: LiveServer) -> Journey:
    """A course with a two-question quiz and a required survey, a session whose only meeting is
    happening now, taught by the demo instructor, with the demo employee enrolled by HR."""
    suffix = uuid.uuid4().hex[:6].upper()
    code = f"E2E-DONE-{suffix}"
    title_ja, title_en = f"修了までの流れ研修 {suffix}", f"Completion journey course {suffix}"
    quiz_spec = {
        "pass_mark": 50, "attempts_allowed": 2, "shuffle": False, "show_answers": True,
        "opens_after_session": False,  # no time limit: no time_limit_minutes
        "questions": [{"type": "single", "text": text, "choices": choices, "answer": answer, "points": 1}
                      for text, choices, answer in QUESTIONS],
    }
    assert validate_quiz(quiz_spec) == []
    with live_server.app.app_context():
        def person(role: str) -> Employee:
            found = db_session.scalar(select(Employee).where(
                Employee.employee_number == live_server.login_for(role)))
            assert found is not None, role
            return found

        hr, instructor, employee = person("HR"), person("instructor"), person("employee")
        spec = CourseSpec(
            code=code, kind="course", title_ja=title_ja, title_en=title_en, track="elective",
            theme="smart_workstyle", delivery_format="classroom", hours="2", fiscal_year=now().year,
            target_grades=["SHUNIN"], prerequisites=[], min_attendance_pct=100, quiz_pass_mark=50,
            survey_required=True, body_md="## ねらい\n\n出席から修了証までを確かめる研修です。\n", quiz=quiz_spec)
        course = save_course(hr, None, spec)
        publish_course(hr, course)
        quiz = materialize_quiz(course)
        assert quiz is not None and len(quiz.questions) == len(QUESTIONS)
        # materialize_quiz does not read opens_after_session from the spec (the column defaults to
        # True): set it as the spec says, so the quiz opens from the enrolment.
        quiz.opens_after_session = False

        # enrol() refuses a session that has started, so schedule it for later, enrol, then move
        # the meeting to now (enrolment window and cancellation deadline stay in the past).
        current = now().replace(microsecond=0)
        later = current + timedelta(hours=2)
        details = SessionDetails(
            label=f"E2E {suffix}", location="県庁 研修室B", online_url=None, capacity=10,
            enrolment_opens_at=current - timedelta(days=3), enrolment_closes_at=current - timedelta(days=1),
            cancellation_deadline_at=current - timedelta(days=1), approval_policy=ApprovalPolicy.NONE)
        session: TrainingSession = schedule_session(hr, course, details, [(later, later + timedelta(hours=1))],
                                                    [instructor])
        enrolment = enrol(hr, employee, session, override_rules=True).enrolment
        assert enrolment.state == EnrolmentState.CONFIRMED
        [meeting] = session.meetings
        starts_at, ends_at = now() - timedelta(minutes=10), now() + MEETING_LEFT
        meeting.starts_at, meeting.ends_at = starts_at, ends_at
        session.starts_at, session.ends_at = starts_at, ends_at
        db_session.commit()
        return Journey(code=code, title=either(title_ja, title_en), title_ja=title_ja, meeting_id=meeting.id,
                       enrolment_id=enrolment.id, meeting_ends_at=ends_at, employee_name=employee.name)


def recorded_certificate(live_server: LiveServer, journey: Journey) -> str:
    """The code of the certificate recorded for the enrolment (no sweep has run)."""
    with live_server.app.app_context():
        enrolment = db_session.get(Enrolment, journey.enrolment_id)
        assert enrolment is not None
        completion = valid_completion(enrolment.employee_id, enrolment.course_id)
        assert completion is not None, "no completion was recorded at the last input"
        return completion.certificate_code


def test_instructor_shows_the_code_employee_checks_in_passes_quiz_answers_survey_and_gets_a_certificate(
        new_context, live_server, shot):
    base = live_server.url
    journey = set_up(live_server)

    # --- the instructor opens the check-in screen of the meeting --------------------------------
    instructor_context = new_context(locale="ja-JP")
    teacher: Page = instructor_context.new_page()
    sign_in(teacher, live_server.login_for("instructor"))
    main_menu(teacher).get_by_role("link", name=whole("出欠", "Attendance")).click()
    expect(teacher).to_have_url(base + "/attendance/teaching")
    row = teacher.get_by_role("row").filter(has_text=journey.title)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=whole("出席コード画面", "Check-in screen")).click()
    expect(teacher).to_have_url(f"{base}/attendance/meetings/{journey.meeting_id}/check-in-screen")
    expect(teacher.get_by_role("heading", level=1)).to_have_text(journey.title)
    check_in_url = f"{base}/attendance/check-in/{journey.meeting_id}"
    expect(teacher.locator(".checkin-screen")).to_contain_text(check_in_url)
    code_display = teacher.locator("#checkin-code")
    expect(code_display).to_have_text(re.compile(r"^\d{6}$"))
    expect(teacher.locator("#checkin-present")).to_have_text("0")
    qr = teacher.locator("img.checkin-qr")
    expect(qr).to_be_visible()
    teacher.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    shot(teacher, "01-instructor-check-in-screen")
    code = code_display.inner_text().strip()

    # --- the employee checks in with the code, on their own device ------------------------------
    employee_context = new_context(locale="ja-JP", accept_downloads=True)
    page: Page = employee_context.new_page()
    sign_in(page, live_server.login_for("employee"))
    assert now() < journey.meeting_ends_at - timedelta(seconds=10), "too slow: the meeting is nearly over"
    page.goto(f"/attendance/check-in/{journey.meeting_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(whole("出席登録", "Check-in"))
    expect(page.locator("main")).to_contain_text(journey.title)
    page.get_by_label(whole("出席コード", "Check-in code")).fill(code)
    shot(page, "02-employee-enters-the-code")
    page.locator("main").get_by_role("button", name=whole("出席を登録する", "Check in")).click()
    expect(page).to_have_url(base + "/my-learning")
    expect(page.locator(".flash--success")).to_have_text(either("出席を登録しました", "Checked in."))
    expect(teacher.locator("#checkin-present")).to_have_text("1", timeout=8000)  # the screen polls every 5 s

    # --- the employee opens the enrolment and takes the quiz ------------------------------------
    upcoming = page.locator("section[aria-labelledby=upcoming-heading]")
    upcoming.get_by_role("link", name=journey.title).click()
    expect(page).to_have_url(f"{base}/enrolments/{journey.enrolment_id}")
    panel = progress_panel(page)
    expect(panel).to_contain_text("100%")  # checked in; the meeting is not over yet
    shot(page, "03-employee-enrolment-checked-in")
    panel.get_by_role("link", name=whole("理解度テストを受ける", "Take the quiz")).click()
    expect(page).to_have_url(f"{base}/enrolments/{journey.enrolment_id}/quiz")
    expect(page.get_by_role("heading", level=1)).to_have_text(whole("理解度テスト", "Understanding quiz"))
    expect(page.get_by_role("radio")).to_have_count(0)  # following the link starts nothing: a button does
    page.locator("main").get_by_role("button", name=whole("テストを開始する", "Start the quiz")).click()
    expect(page).to_have_url(f"{base}/enrolments/{journey.enrolment_id}/quiz")
    expect(page.locator("#quiz-timer")).to_have_count(0)  # no time limit
    for text, choices, answer in QUESTIONS:
        question = page.get_by_role("group", name=re.compile(re.escape(text)))
        expect(question.get_by_role("radio")).to_have_count(len(choices))
        question.get_by_label(choices[answer], exact=True).check()
    shot(page, "04-employee-quiz-answered")
    page.locator("main").get_by_role("button", name=whole("提出する", "Submit")).click()
    expect(page).to_have_url(f"{base}/enrolments/{journey.enrolment_id}/quiz/result")
    result = page.locator("p.result")
    expect(result.locator(".badge--ok")).to_have_text(whole("合格", "Passed"))
    expect(result).to_contain_text("100%")
    shot(page, "05-employee-quiz-passed")

    # --- … answers the survey -------------------------------------------------------------------
    page.locator("main").get_by_role("link", name=journey.title).first.click()
    expect(page).to_have_url(f"{base}/enrolments/{journey.enrolment_id}")
    expect(panel.locator(".badge--ok").filter(has_text=whole("合格", "Passed"))).to_have_count(1)
    panel.get_by_role("link", name=whole("アンケートに回答する", "Answer the survey")).click()
    expect(page).to_have_url(f"{base}/enrolments/{journey.enrolment_id}/survey")
    expect(page.get_by_role("heading", level=1)).to_have_text(whole("研修評価アンケート", "Course evaluation survey"))
    scales = [(ja, en) for kind, ja, en in DEFAULT_QUESTIONS if kind == SurveyQuestionKind.SCALE]
    for rating, (ja, en) in zip((5, 4, 4, 5), scales, strict=True):
        page.get_by_role("group", name=whole(ja, en)).get_by_label(str(rating), exact=True).check()
    page.get_by_role("textbox", name=whole("良かった点", "What worked well")).fill(COMMENT)
    shot(page, "06-employee-survey-filled")
    page.locator("main").get_by_role("button", name=whole("送信", "Send")).click()
    expect(page).to_have_url(f"{base}/enrolments/{journey.enrolment_id}")
    expect(page.locator(".flash--success")).to_have_text(either(
        "アンケートへのご回答ありがとうございました", "Thank you for answering the survey"))
    expect(panel.locator(".badge--ok").filter(has_text=whole("回答済み", "Answered"))).to_have_count(1)
    # The survey was the last input: completed at once, while the meeting is still on.
    completed_badge = panel.locator(".badge--ok").filter(has_text=whole("修了", "Completed"))
    expect(completed_badge).to_have_count(1)
    expect(panel).to_contain_text("100%")
    assert now() < journey.meeting_ends_at
    certificate_code = recorded_certificate(live_server, journey)
    shot(page, "07-employee-completed-at-once")

    # --- … and downloads the certificate --------------------------------------------------------
    panel.get_by_role("link", name=whole("修了証", "Certificate")).click()
    expect(page).to_have_url(f"{base}/certificates/{certificate_code}")
    certificate = page.locator(".certificate")
    expect(certificate).to_contain_text(journey.employee_name)
    expect(certificate).to_contain_text(journey.title_ja)
    expect(certificate.locator("strong")).to_have_text(certificate_code)
    expect(certificate).to_contain_text(f"{base}/verify/{certificate_code}")
    with live_server.app.app_context():
        completed_on = db_session.scalar(select(Completion.completed_on)
                                         .where(Completion.certificate_code == certificate_code))
    assert completed_on is not None
    reiwa = f"{era_date(completed_on)}（{completed_on.year}年）"  # a document: 和暦 with the Western year
    expect(certificate).to_contain_text(either(reiwa, completed_on.strftime("%d %B %Y")))
    shot(page, "08-employee-certificate")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=whole("PDFをダウンロード", "Download PDF")).click()
    download = download_info.value
    assert download.suggested_filename == f"certificate-{certificate_code}.pdf"
    body = Path(download.path()).read_bytes()
    assert body.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(body))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert f"Verification code: {certificate_code}" in text, text
    assert f"{base}/verify/{certificate_code}" in text, text
    assert journey.employee_name in text and f"修了日　{reiwa}" in text, text  # the embedded font's text

    employee_context.close()
    instructor_context.close()
