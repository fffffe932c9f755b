"""The demo tells a year: `flask demo load` builds the fiscal year of the day it is loaded, as that
day would find it. Pinned days:

- 2026-12-01 (a Tuesday in 下期): "the past 上期" is this fiscal year's April–September, its
  report published; the grade training has run since September;
- 2026-06-15 (a Monday in 上期): this year's 上期 is not over, so the past 上期 is last fiscal
  year's (FY2025) and its report the one published; this year's grade training began in April;
- 2026-12-29 (the year-end closure): today's session still takes place (online), the one session of
  the demo on a closed day.

Each test works on a copy of its own of the demo loaded at 10:00 Tokyo time of its day (loaded once a
session, tests/demo_db.py), so what it writes (a check-in, a job run) no other test sees.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.assessment.models import QuizAttempt, SurveyResponse
from app.attendance.checkin_codes import current_code
from app.attendance.models import AttendanceMark
from app.attendance.services import CHECK_IN_OPENS_BEFORE
from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Course
from app.cohorts.models import Application, Cohort, Endorsement, Milestone, Submission, SubmissionStatus
from app.completion.models import Completion
from app.core.business_days import is_business_day
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.demo.cli import load_demo
from app.demo.organisation import DEMO_PASSWORD
from app.demo.today import today_meeting, todays_session
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.enrollment.queries import approvals_for
from app.jobs.models import BackgroundJob, JobState
from app.jobs.runner import run_due
from app.org.models import Employee
from app.reminders.models import DeliveryStatus, Notification
from app.reports import figures as fig
from app.reports.models import HalfYearReport
from app.scheduling.models import Meeting, TrainingSession
from tests import factories
from tests.demo_db import DEMO_AT, DemoDatabases

DOWN = DEMO_AT  # 2026-12-01 10:00, 下期
UP = datetime(2026, 6, 15, 10, 0, tzinfo=TOKYO)  # 上期
CLOSED = datetime(2026, 12, 29, 10, 0, tzinfo=TOKYO)  # 年末年始


@contextmanager
def demo_on(demos: DemoDatabases, at: datetime) -> Iterator[tuple[Flask, dict[str, str]]]:
    """A copy of the demo loaded at `at` (time stands still there); yields its app and the login of
    each role."""
    with demos.copy(at) as demo, time_machine.travel(at, tick=False):
        yield demo.app, demo.logins


def signed_in(app: Flask, login: str) -> FlaskClient:
    client = app.test_client()
    response = factories.login(client, login, DEMO_PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def person(app: Flask, login: str) -> Employee:
    with app.app_context():
        found = db_session.scalar(select(Employee).where(Employee.employee_number == login))
        assert found is not None
        return found


def local_day(instant: datetime) -> date:
    return instant.astimezone(TOKYO).date()


def closed_days(app: Flask) -> list[str]:
    """Every session, deadline and due date of the demo that falls on a closed day (but today's session)."""
    with app.app_context():
        today_id = todays_session().id if todays_session() is not None else None  # type: ignore[union-attr]
        found = []
        for s in db_session.scalars(select(TrainingSession)):
            course = s.course.code
            days = [("enrolment closes", s.enrolment_closes_at), ("cancellation deadline", s.cancellation_deadline_at)]
            if s.id != today_id:
                days += [("meeting", m.starts_at) for m in s.meetings]
            found += [f"{course} {what} {local_day(at)}" for what, at in days if not is_business_day(local_day(at))]
        found += [f"rule {r.course.code} {r.due_on}" for r in db_session.scalars(select(AssignmentRule))
                  if not is_business_day(r.due_on)]
        found += [f"assignment {a.course.code} {a.due_on}" for a in db_session.scalars(
            select(Assignment).where(Assignment.status != AssignmentStatus.WITHDRAWN)) if not is_business_day(a.due_on)]
        found += [f"milestone {m.kind.value} {local_day(m.due_at)}" for m in db_session.scalars(select(Milestone))
                  if not is_business_day(local_day(m.due_at))]
        found += [f"cohort closes {local_day(c.applications_close_at)}" for c in db_session.scalars(select(Cohort))
                  if not is_business_day(local_day(c.applications_close_at))]
        return sorted(set(found))


def check_in_now(app: Flask, login: str) -> str:
    """The employee checks in to today's session with the code on the instructor's screen."""
    with app.app_context():
        training_session = todays_session()
        assert training_session is not None
        meeting_id = training_session.meetings[0].id
        code = current_code(app.config["SECRET_KEY"], meeting_id, now())[0]
    client = signed_in(app, login)
    assert "出席登録（受付中）" in client.get("/my-learning").get_data(as_text=True)  # "Check in now", a button
    path = f"/attendance/check-in/{meeting_id}"
    response = factories.post(client, path, {"code": code}, form_page=path, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


COUNTED = (Employee, Course, TrainingSession, Meeting, Enrolment, AttendanceMark, QuizAttempt, SurveyResponse,
           Completion, Assignment, AssignmentRule, Cohort, Application, Submission, Milestone, HalfYearReport,
           Notification, BackgroundJob)


def counts() -> dict[str, int]:
    """How many rows of each kind the demo made (inside an app context)."""
    return {model.__name__: db_session.scalar(select(func.count()).select_from(model)) or 0 for model in COUNTED}


def test_in_the_second_half_the_demo_shows_this_fiscal_year_with_its_first_half_past(demo_databases):
    with demo_on(demo_databases, DOWN) as (app, logins):
        with app.app_context():
            assert {c.fiscal_year for c in db_session.scalars(select(Course))} == {2026}
            # Every 上期 figure is real: participants, completions, attendance, quiz results, satisfaction.
            report = db_session.scalar(select(HalfYearReport).where(
                HalfYearReport.fiscal_year == 2026, HalfYearReport.half == 1, HalfYearReport.superseded_at.is_(None)))
            assert report is not None and report.published_at is not None and report.version == 2
            totals = report.snapshot["totals"]
            assert totals["participants"] >= 40 and 0 < totals["completed"] < totals["participants"]
            assert 0 < totals["attended"] <= totals["marked"]
            by_course = {row["key"]: row for row in report.snapshot["by_course"]}
            assert by_course["DX-SHUNIN-2020"]["quiz_attempts"] > 0  # held in September
            assert any(row["satisfaction"] for row in by_course.values())
            year = fig.compute(fig.Period(2026, None))["totals"]
            assert year["participants"] > totals["participants"] and year["completed"] > totals["completed"]
            certificates = db_session.scalar(select(func.count()).select_from(Completion).where(
                Completion.completed_on >= date(2026, 4, 1), Completion.revoked_at.is_(None)))
            assert certificates and certificates > 50
        assert closed_days(app) == []

        # HR: the course page says 令和8年度; the dashboard and the published report have figures.
        hr = signed_in(app, logins["HR"])
        course_page = hr.get("/catalog/courses/DX-SHUNIN-2020").get_data(as_text=True)
        assert "令和8年度" in course_page and "令和2年度" not in course_page
        dashboard = hr.get("/reports/dashboard").get_data(as_text=True)
        assert "主任級デジタル研修" in dashboard and "課長級デジタル研修" in dashboard
        half_year = hr.get("/reports/half-year?fy=2026&half=1").get_data(as_text=True)
        assert "Web会議・テレワーク" in half_year and "計上漏れ" in half_year  # the figures and the erratum

        # Someone is overdue: the manager's own division, the demo employee among them.
        employee = person(app, logins["employee"])
        team = signed_in(app, logins["manager"]).get("/team?status=overdue").get_data(as_text=True)
        assert employee.name in team and "データ活用入門" in team

        # Today's session: the employee checks in with the code the instructor shows.
        assert "出席を登録しました" in check_in_now(app, logins["employee"])


def test_in_the_first_half_the_past_first_half_is_last_years_and_this_years_training_has_begun(demo_databases):
    with demo_on(demo_databases, UP) as (app, logins):
        with app.app_context():
            assert {c.fiscal_year for c in db_session.scalars(select(Course))} == {2026}
            published = db_session.scalars(select(HalfYearReport).where(HalfYearReport.published_at.is_not(None))).all()
            assert {(r.fiscal_year, r.half) for r in published} == {(2025, 1)}
            assert max(r.snapshot["totals"]["completed"] for r in published) > 0
            year = fig.compute(fig.Period(2026, None))["totals"]  # April to mid-June
            assert year["participants"] > 0 and year["completed"] > 0 and year["attended"] > 0
            held = db_session.scalars(select(TrainingSession).where(TrainingSession.starts_at < now())).all()
            assert all(fiscal_year_of(s.starts_at).year == 2026 or local_day(s.starts_at) < date(2025, 10, 1)
                       for s in held)  # this year's, or the electives of last year's 上期
        assert closed_days(app) == []
        assert "出席を登録しました" in check_in_now(app, logins["employee"])
        employee = person(app, logins["employee"])
        team = signed_in(app, logins["manager"]).get("/team?status=overdue").get_data(as_text=True)
        assert employee.name in team


def test_each_role_finds_something_to_do(demo_databases):
    with demo_on(demo_databases, DOWN) as (app, logins):
        employee, manager, hr = (person(app, logins[role]) for role in ("employee", "manager", "HR"))
        instructor, mentor = person(app, logins["instructor"]), person(app, logins["mentor"])
        with app.app_context():
            today_session = todays_session()
            assert today_session is not None
            assert instructor.id in {i.id for i in today_session.instructors}
            roster = db_session.scalars(select(Enrolment).where(Enrolment.session_id == today_session.id)).all()
            assert employee.id in {e.employee_id for e in roster} and len(roster) >= 10
            mine = db_session.scalars(select(Enrolment).where(Enrolment.employee_id == employee.id)).all()
            assert EnrolmentState.WAITLISTED in {e.state for e in mine}
            assert EnrolmentState.PENDING not in {e.state for e in mine}  # their own requests: none waiting

            to_decide = approvals_for(db_session.get(Employee, manager.id))  # type: ignore[arg-type]
            assert len({e.employee_id for e in to_decide}) >= 3  # two of their 主任, one handed over
            at_hr = approvals_for(db_session.get(Employee, hr.id))  # type: ignore[arg-type]
            assert len([e for e in at_hr if e.approval_stage == ApprovalStage.HR]) >= 2
            endorsements = db_session.scalars(select(Application).where(
                Application.approver_id == manager.id, Application.endorsement == Endorsement.PENDING)).all()
            assert len(endorsements) == 1
            assert db_session.scalar(select(func.count()).select_from(Notification).where(
                Notification.status == DeliveryStatus.FAILED)) == 1
            job = db_session.scalar(select(BackgroundJob))
            assert job is not None and job.state == JobState.QUEUED  # this morning's staff list, waiting

            assert (db_session.scalar(select(func.count()).select_from(QuizAttempt).where(
                QuizAttempt.needs_grading.is_(True), QuizAttempt.submitted_at.is_not(None))) or 0) >= 2
            waiting = db_session.scalars(select(Submission).where(Submission.status == SubmissionStatus.SUBMITTED))
            assert [s.milestone.kind.value for s in waiting] == ["interim"]  # for the mentor to review
            trial = db_session.scalar(select(Cohort).where(Cohort.name == "第0期（試行）"))
            assert trial is not None
            stones = {m.kind.value: local_day(m.due_at) for m in db_session.scalars(
                select(Milestone).where(Milestone.cohort_id == trial.id))}
            assert stones["plan"] < date(2026, 12, 1) < stones["interim"] <= date(2026, 12, 15)

        learning = signed_in(app, logins["employee"]).get("/my-learning").get_data(as_text=True)
        for text in ("出席登録（受付中）", "キャンセル待ち", "データ活用入門", "中間報告", "情報セキュリティ"):
            assert text in learning, text
        approvals = signed_in(app, logins["manager"]).get("/approvals").get_data(as_text=True)
        assert "主任級デジタル研修" in approvals
        outbox = signed_in(app, logins["HR"]).get("/admin/outbox?status=failed").get_data(as_text=True)
        assert "User unknown" in outbox
        grading = signed_in(app, logins["instructor"]).get("/grading").get_data(as_text=True)
        assert "主任級デジタル研修" in grading
        board = signed_in(app, mentor.employee_number).get(f"/cohorts/{trial.id}/board")
        assert board.status_code == 200

        with app.app_context():  # the scheduler's runner applies the queued staff list: one address changed
            assert run_due("demo-test") == [job.id]
            db_session.expire_all()
            done = db_session.get(BackgroundJob, job.id)
            assert done is not None and done.state == JobState.SUCCEEDED, done.result if done else None
            assert done.result["counts"]["updated"] == 1 and done.result["counts"]["deactivated"] == 0


def test_loading_twice_changes_nothing_and_the_same_day_builds_the_same_demo(app, demo_databases):
    with demo_on(demo_databases, DOWN) as (loaded, _logins):
        with loaded.app_context():
            first = counts()  # the demo of that day, loaded from nothing (once a session)
            load_demo()  # once more on top: nothing added
            db_session.commit()
            assert counts() == first
        with app.app_context():  # an empty database
            assert counts()["Employee"] == 0
            load_demo()  # the same day again, from nothing: the same demo
            assert counts() == first
        assert first["Completion"] > 50 and first["QuizAttempt"] > 20 and first["SurveyResponse"] > 40


def test_on_a_closed_day_todays_session_still_takes_place_online_and_is_the_only_one(demo_databases):
    with demo_on(demo_databases, CLOSED) as (app, logins):
        with app.app_context():
            training_session = todays_session()
            assert training_session is not None and training_session.online_url and not training_session.location
        assert closed_days(app) == []
        assert "出席を登録しました" in check_in_now(app, logins["employee"])


def test_flask_demo_load_today_builds_the_demo_of_that_day(app, runner):
    with time_machine.travel(DOWN, tick=False):
        result = runner.invoke(args=["demo", "load", "--today", "2027-05-10"])
        assert result.exit_code == 0, result.output
        assert "manabi-demo-2026" in result.output
        with app.app_context():
            assert {c.fiscal_year for c in db_session.scalars(select(Course))} == {2027}
            days = {local_day(s.starts_at) for s in db_session.scalars(select(TrainingSession))}
            assert date(2027, 5, 10) in days and max(days) > date(2027, 5, 10)
        assert now().astimezone(TOKYO).date() == date(2026, 12, 1)  # the clock is back where it was


@pytest.mark.parametrize("hour", [0, 6, 8, 9, 12, 17, 22, 23])
def test_whatever_the_hour_the_demo_is_loaded_check_in_to_todays_session_is_open_then(hour):
    loaded = datetime(2026, 12, 1, hour, 58, tzinfo=TOKYO)
    starts_at, ends_at = today_meeting(loaded, 3.5)
    assert local_day(starts_at) == local_day(ends_at) == date(2026, 12, 1)
    assert starts_at - CHECK_IN_OPENS_BEFORE <= loaded <= ends_at
    if 8 <= hour <= 9:
        assert starts_at.astimezone(TOKYO).hour == 9  # in office hours it starts at 9:00
