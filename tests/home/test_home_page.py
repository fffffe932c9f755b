"""The home page: a panel of things to do for each role the person has, each thing a link to the
page where it is done, and a friendly line when a panel has nothing."""
from __future__ import annotations

import html
import re

from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select

from app.assessment.models import QuizAttempt
from app.attendance.checkin_codes import current_code
from app.attendance.services import check_in
from app.cohorts.models import Application, Cohort, Submission
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import ApprovalStage, Enrolment
from app.home.panels import SHOWN
from app.jobs.models import BackgroundJob
from app.org.models import Employee, RoleGrant, RoleName
from app.scheduling.models import Meeting, TrainingSession
from tests import factories
from tests.home.conftest import (
    FISCAL_YEAR,
    People,
    give_employee_work,
    give_hr_work,
    give_manager_work,
    give_teaching_work,
)
from tests.querycount import count_statements

PANELS = ("home-employee", "home-manager", "home-hr", "home-teaching")
_SECTION = re.compile(r'<section class="panel home-panel" id="(home-[a-z]+)" aria-labelledby="([^"]+)">(.*?)</section>',
                      re.S)


def sections(page: str) -> dict[str, str]:
    """The panels on the page by id, each checked to be labelled by its own h2."""
    found = {}
    for panel_id, label_id, body in _SECTION.findall(page):
        assert re.search(rf'<h2 id="{label_id}">[^<]+</h2>', body), panel_id
        found[panel_id] = body
    return found


def home_as(client: FlaskClient, person: Employee) -> dict[str, str]:
    factories.login_as(client, person)
    response = client.get("/")
    assert response.status_code == 200
    return sections(response.get_data(as_text=True))


def href(app: Flask, endpoint: str, **values: object) -> str:
    with app.test_request_context():
        return f'href="{html.escape(url_for(endpoint, **values))}"'


def person(app: Flask, person_id: int) -> Employee:
    with app.app_context():
        found = db_session.get(Employee, person_id)
        assert found is not None
        db_session.expunge(found)
        return found


def test_an_employee_without_a_role_sees_their_things_to_do_and_no_other_panel(app, client, people: People):
    with app.app_context():
        give_employee_work(people, 1)
        me = people.employee
        places = {e.course.code: e for e in db_session.scalars(select(Enrolment).where(Enrolment.employee_id == me))}
        checkin = db_session.scalar(select(Meeting).join(TrainingSession).where(
            TrainingSession.id == places["NEXT-0"].session_id))
        assert checkin is not None
        cohort_id = db_session.scalar(select(Application.cohort_id).where(Application.employee_id == me))
        links = [href(app, "catalog.course", code="DUE-0"),
                 href(app, "enrollment.detail", enrolment_id=places["NEXT-0"].id),
                 href(app, "attendance.check_in", meeting_id=checkin.id),
                 href(app, "enrollment.detail", enrolment_id=places["FULL-0"].id),
                 href(app, "assessment.take_quiz", enrolment_id=places["QUIZ-0"].id),
                 href(app, "assessment.self_paced_quiz", code="EL-0", key="main"),
                 href(app, "assessment.answer_survey", enrolment_id=places["QUIZ-0"].id),
                 href(app, "cohorts.work", cohort_id=cohort_id)]
    panels = home_as(client, person(app, people.employee))
    assert list(panels) == ["home-employee"]
    mine = panels["home-employee"]
    for link in links:
        assert link in mine, link
    assert "5日超過" in mine  # the assignment due five days ago, in words, not colour alone
    assert "キャンセル待ち 1番目" in mine
    assert "出席を登録する" in mine  # the check-in button: the meeting starts in ten minutes
    assert "確認テスト：QUIZ-0の研修" in mine and "アンケート：QUIZ-0の研修" in mine
    assert "中間報告" in mine and "最終報告" in mine  # the milestones after the submitted plan
    assert "今、やることはありません" not in mine


def test_someone_with_nothing_to_do_is_told_so_in_a_friendly_line(app, client, people: People):
    panels = home_as(client, person(app, people.nobody))
    assert list(panels) == ["home-employee"]
    assert "今、やることはありません。お疲れさまです。" in panels["home-employee"]
    assert href(app, "catalog.index") in panels["home-employee"]


def test_an_employee_already_checked_in_sees_it_instead_of_the_button(app, client, people: People):
    with app.app_context():
        give_employee_work(people, 1)
        me = people.get("employee")
        meeting = db_session.scalar(select(Meeting).join(TrainingSession).where(TrainingSession.location == "会議室0"))
        assert meeting is not None
        check_in(me, meeting, current_code(app.config["SECRET_KEY"], meeting.id, now())[0], app.config["SECRET_KEY"])
        db_session.commit()
        button = href(app, "attendance.check_in", meeting_id=meeting.id)
    mine = home_as(client, person(app, people.employee))["home-employee"]
    assert button not in mine and "出席登録済み" in mine


def test_a_manager_sees_requests_endorsements_and_the_team_overdue(app, client, people: People):
    with app.app_context():
        give_employee_work(people, 1)
        give_manager_work(people, 1)
        request = db_session.scalar(select(Enrolment).where(Enrolment.employee_id == people.junior,
                                                            Enrolment.approval_stage == ApprovalStage.MANAGER))
        assert request is not None
        links = [href(app, "enrollment.detail", enrolment_id=request.id), href(app, "enrollment.approvals"),
                 href(app, "reports.team", status="overdue"),
                 href(app, "reports.team", status="overdue", unit=people.division)]
    panels = home_as(client, person(app, people.manager))
    assert list(panels) == ["home-employee", "home-manager"]
    team = panels["home-manager"]
    for link in links:
        assert link in team, link
    assert "後輩 三郎" in team  # whose request
    assert re.search(r'href="/cohorts/endorsements#comment-\d+">同僚 次郎 — ', team)  # whose application waits
    assert "3人・期限超過 3件" in team  # the division's three 主任, one overdue assignment each
    assert "5日超過" in team


def test_a_manager_with_nothing_waiting_is_told_so(app, client, people: People):
    panels = home_as(client, person(app, people.manager))
    assert "判断待ちの申込み・推薦はなく、期限超過の職員もいません。" in panels["home-manager"]


def test_hr_sees_today_requests_at_their_stage_the_outbox_compliance_and_jobs(app, client, people: People):
    with app.app_context():
        give_employee_work(people, 1)
        give_hr_work(people, 1)
        request = db_session.scalar(select(Enrolment).where(Enrolment.approval_stage == ApprovalStage.HR))
        job = db_session.scalar(select(BackgroundJob))
        assert request is not None and job is not None
        meeting_today = db_session.scalar(select(Meeting).join(TrainingSession).where(
            TrainingSession.location == "会議室0"))
        assert meeting_today is not None
        links = [href(app, "attendance.roster", meeting_id=meeting_today.id),
                 href(app, "attendance.checkin_screen", meeting_id=meeting_today.id),
                 href(app, "enrollment.detail", enrolment_id=request.id), href(app, "enrollment.approvals"),
                 href(app, "reminders.outbox", status="failed"), href(app, "reminders.outbox", status="sending"),
                 href(app, "reports.compliance", fy=FISCAL_YEAR),
                 href(app, "reports.compliance_people", fy=FISCAL_YEAR, state="overdue"),
                 href(app, "jobs.show", job_id=job.id)]
    panels = home_as(client, person(app, people.hr))
    assert list(panels) == ["home-employee", "home-hr"]  # HR heads no unit: no manager's panel
    office = panels["home-hr"]
    for link in links:
        assert link in office, link
    assert "NEXT-0の研修" in office  # today's session
    assert "送信失敗 1件" in office and "送信中のまま 1件" in office
    assert "0.0%" in office  # nobody has done the assigned course yet
    assert "後輩 三郎" in office


def test_an_instructor_sees_todays_rosters_and_answers_to_grade_with_the_persons_name(app, client, people: People):
    with app.app_context():
        give_employee_work(people, 1)
        give_teaching_work(people, 1)
        attempt = db_session.scalar(select(QuizAttempt).where(QuizAttempt.needs_grading.is_(True)))
        meeting_today = db_session.scalar(select(Meeting).join(TrainingSession).where(
            TrainingSession.location == "会議室0"))
        assert attempt is not None and meeting_today is not None
        links = [href(app, "attendance.roster", meeting_id=meeting_today.id),
                 href(app, "attendance.checkin_screen", meeting_id=meeting_today.id),
                 href(app, "assessment.grade_attempt", attempt_id=attempt.id)]
    panels = home_as(client, person(app, people.instructor))
    assert list(panels) == ["home-employee", "home-teaching"]
    teaching = panels["home-teaching"]
    for link in links:
        assert link in teaching, link
    assert "同僚 次郎 — GRADE-0の研修" in teaching


def test_a_mentor_sees_the_fieldwork_to_review_with_who_submitted_it(app, client, people: People):
    with app.app_context():
        give_employee_work(people, 1)
        submission = db_session.scalar(select(Submission))
        assert submission is not None
        link = href(app, "cohorts.submission", submission_id=submission.id)
        cohort = db_session.get(Cohort, submission.milestone.cohort_id)
        assert cohort is not None
        cohort_name = cohort.name
    panels = home_as(client, person(app, people.mentor))
    assert list(panels) == ["home-employee", "home-teaching"]
    mentoring = panels["home-teaching"]
    assert link in mentoring
    assert "本人 花子 (チーム0) — フィールドワーク計画" in mentoring
    assert cohort_name in mentoring


def test_someone_with_several_roles_sees_each_of_their_panels(app, client, people: People):
    with app.app_context():
        db_session.add(RoleGrant(employee_id=people.manager, role=RoleName.HR))
        db_session.add(RoleGrant(employee_id=people.manager, role=RoleName.INSTRUCTOR))
        db_session.commit()
    panels = home_as(client, person(app, people.manager))
    assert list(panels) == list(PANELS)
    assert "今、研修担当の対応が必要なものはありません。" in panels["home-hr"]
    assert "本日の担当研修はなく、採点・確認待ちもありません。" in panels["home-teaching"]


def test_the_page_costs_the_same_statements_with_much_more_to_do(app, client, people: People):
    """The whole page for someone with every role: the panels' budgets and the page's own few."""
    with app.app_context():
        db_session.add(RoleGrant(employee_id=people.manager, role=RoleName.HR))
        db_session.add(RoleGrant(employee_id=people.manager, role=RoleName.INSTRUCTOR))
        db_session.commit()
        for give in (give_employee_work, give_manager_work, give_hr_work, give_teaching_work):
            give(people, 1)
    factories.login_as(client, person(app, people.manager))
    client.get("/")  # warm-up
    with count_statements(app) as few:
        assert client.get("/").status_code == 200
    with app.app_context():
        for give in (give_employee_work, give_manager_work, give_hr_work, give_teaching_work):
            give(people, SHOWN, tag="more")
    with count_statements(app) as many:
        page = client.get("/").get_data(as_text=True)
    assert "ほか1件" in page  # lists cut to their first few, the rest a link away
    assert many.count == few.count, many.statements
    # the person with roles and headed units, the unread count; panels: 9 + 3 + 5 + 3
    assert many.count <= 3 + 9 + 3 + 5 + 3, many.statements
