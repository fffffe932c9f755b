"""A small organisation at a pinned instant, and builders that give each role something to do on
the home page (as many of each as asked, so a test can compare few with many).

    健康局 (部長) → 情報課: 情報 課長 (the manager), 本人 (the employee, 主任), 同僚 and 後輩 (主任)
    人事課: 人事 担当 (HR), 講師 (instructor), 外部 メンター (mentor), 無役 (nobody's anything)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask, current_app
from sqlalchemy import select

from app.assessment import quizzes
from app.assessment.quizzes import materialize_quiz
from app.catalog.models import Course
from app.catalog.module_files import check_modules, modules_of
from app.cohorts import services as cohorts
from app.cohorts.models import Cohort, Decision, Milestone, MilestoneKind
from app.core.clock import TOKYO, now, today
from app.core.db import db_session
from app.elearning.services import read_page, start_module
from app.jobs.services import enqueue
from app.org.models import Employee, RoleName, Unit
from app.reminders.models import DeliveryStatus, Notification
from tests import factories

HOME_AT = datetime(2026, 6, 10, 10, 0, tzinfo=TOKYO)  # a Wednesday morning in 上期 of FY2026
FISCAL_YEAR = 2026

AUTO_QUIZ = {"pass_mark": 60, "attempts_allowed": 2, "shuffle": False, "show_answers": True,
             "questions": [{"type": "true_false", "text": "研修は業務である。", "answer": True, "points": 1}]}
SHORT_QUIZ = {"pass_mark": 60, "attempts_allowed": 2, "shuffle": False, "show_answers": True,
              "questions": [{"type": "short", "text": "学んだことを一つ書いてください。", "answer": "自由記述",
                             "points": 1}]}


@dataclass(frozen=True)
class People:
    employee: int
    colleague: int
    junior: int
    manager: int
    hr: int
    instructor: int
    mentor: int
    nobody: int
    division: int

    def get(self, name: str) -> Employee:
        person = db_session.get(Employee, getattr(self, name))
        assert person is not None
        return person


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    with time_machine.travel(HOME_AT, tick=False):
        yield


@pytest.fixture
def people(app: Flask, clock) -> People:  # type: ignore[no-untyped-def]
    with app.app_context():
        department = factories.unit("健康局", code="H-DEPT")
        division = factories.unit("情報課", department, code="H-INFO")
        personnel = factories.unit("人事課", code="H-JINJI")
        factories.employee(department, "BUCHO", heads=department, name="健康 部長")
        manager = factories.employee(division, "KACHO", heads=division, name="情報 課長")
        employee = factories.employee(division, "SHUNIN", name="本人 花子")
        colleague = factories.employee(division, "SHUNIN", name="同僚 次郎")
        junior = factories.employee(division, "SHUNIN", name="後輩 三郎")
        hr = factories.employee(personnel, "SHUSA", roles=(RoleName.HR,), name="人事 担当")
        instructor = factories.employee(personnel, "HOSA", roles=(RoleName.INSTRUCTOR,), name="講師 先生")
        mentor = factories.employee(personnel, "HOSA", roles=(RoleName.MENTOR,), name="外部 メンター")
        nobody = factories.employee(personnel, "SHUJI", name="無役 四郎")
        return People(employee.id, colleague.id, junior.id, manager.id, hr.id, instructor.id, mentor.id, nobody.id,
                      division.id)


# --- builders (inside an app context) ---------------------------------------------------------


def _course(code: str, **kwargs: Any) -> Course:
    return factories.course(code, title_ja=f"{code}の研修", title_en=f"Course {code}", fiscal_year=FISCAL_YEAR,
                            **kwargs)


def _quiz_course(code: str, spec: dict[str, Any], **kwargs: Any) -> Course:
    course = _course(code, quiz_pass_mark=spec["pass_mark"], **kwargs)
    course.quiz_spec = spec
    materialize_quiz(course)
    db_session.commit()
    return course


def _past_place(course: Course, person: Employee, instructor: Employee):  # type: ignore[no-untyped-def]
    """A confirmed place in a session of `course` held three days ago."""
    with time_machine.travel(now() - timedelta(days=10), tick=False):
        session = factories.training_session(course, starts_in=timedelta(days=7), instructors=(instructor,))
        return factories.enrolment(person, session)


def _elearning_course(code: str) -> Course:
    raw = [{"key": "main", "title": {"ja": f"{code}の単元", "en": f"Module {code}"}, "quiz": True,
            "pages": [{"title": "第1ページ", "body": "本文です。"}]}]
    checked, problems = check_modules(raw, kind="course", has_quiz=True, survey_required=False)
    assert not problems, problems
    course = _course(code, delivery_format="elearning", min_attendance=0, quiz_pass_mark=AUTO_QUIZ["pass_mark"])
    course.modules_spec = checked
    course.quiz_spec = AUTO_QUIZ
    materialize_quiz(course)
    db_session.commit()
    return course


def _selected(cohort: Cohort, person: Employee, hr: Employee):  # type: ignore[no-untyped-def]
    application = cohorts.apply(person, cohort, "業務を改善したい", cohorts.THEMES[0], ["窓口のデジタル化"])
    db_session.commit()
    cohorts.decide(hr, application, Decision.SELECTED)
    db_session.commit()
    return application


def give_employee_work(p: People, n: int, tag: str = "") -> None:
    """`n` of everything the employee's panel lists: an overdue assignment (to the whole division's
    主任), a place in a coming session (the first one's check-in open now, taught by the instructor),
    a waitlist place, a quiz and a survey waiting, an e-learning quiz, and a cohort (its three
    milestones after the submitted plan are due; the plan waits for the mentor's review)."""
    me, colleague, hr = p.get("employee"), p.get("colleague"), p.get("hr")
    instructor, mentor = p.get("instructor"), p.get("mentor")
    for i in range(n):
        code = f"{tag}{i}"
        overdue = _course(f"DUE-{code}")
        factories.assignment_rule(overdue, "SHUNIN", fiscal_year=FISCAL_YEAR, due_on=today() - timedelta(days=5 + i))
        soon = timedelta(minutes=10) if i == 0 and not tag else timedelta(days=3 + i)
        session = factories.training_session(_course(f"NEXT-{code}"), starts_in=soon, instructors=(instructor,),
                                             location=f"会議室{code}")
        factories.enrolment(me, session)
        full = factories.training_session(_course(f"FULL-{code}"), capacity=1)
        factories.enrolment(colleague, full)
        factories.enrolment(me, full)  # waitlisted, number 1
        _past_place(_quiz_course(f"QUIZ-{code}", AUTO_QUIZ, survey_required=True), me, instructor)
        module_course = _elearning_course(f"EL-{code}")
        module = modules_of(module_course.modules_spec)[0]
        start_module(me, module_course, module)
        read_page(me, module_course, module, 1)
        db_session.commit()
        cohort = factories.cohort(requires_endorsement=False)
        _selected(cohort, me, hr)
        host = db_session.get(Unit, p.division)
        assert host is not None
        team = cohorts.form_team(hr, cohort, f"チーム{code}", host, cohorts.THEMES[0], "窓口の待ち時間", [me], [mentor])
        db_session.commit()
        plan = db_session.scalar(select(Milestone).where(Milestone.cohort_id == cohort.id,
                                                         Milestone.kind == MilestoneKind.PLAN))
        assert plan is not None
        cohorts.submit_work(me, plan, team, "## 計画\n\n窓口の待ち時間を半分に", [],
                            Path(current_app.config["UPLOAD_DIR"]))
        db_session.commit()


def give_manager_work(p: People, n: int, tag: str = "") -> None:
    """`n` requests at the manager's stage (the junior's), `n` applications waiting for the
    manager's endorsement (the colleague's); the overdue come with `give_employee_work`."""
    junior, colleague = p.get("junior"), p.get("colleague")
    for i in range(n):
        code = f"{tag}{i}"
        session = factories.training_session(_course(f"ASK-{code}"), policy="manager")
        factories.enrolment(junior, session, override=False)
        cohort = factories.cohort(requires_endorsement=True)
        cohorts.apply(colleague, cohort, "学びたい", cohorts.THEMES[0], ["庁内の情報共有"])
        db_session.commit()


def give_hr_work(p: People, n: int, tag: str = "") -> None:
    """`n` requests at HR's stage (the manager enrolled the junior on a two-stage session), a failed
    and a stuck message, and a queued job each; today's sessions come with `give_employee_work`."""
    junior, manager = p.get("junior"), p.get("manager")
    for i in range(n):
        code = f"{tag}{i}"
        session = factories.training_session(_course(f"HR-{code}"), policy="manager_then_hr")
        factories.enrolment(junior, session, actor=manager, override=False)
        current = now()
        for status, claimed in ((DeliveryStatus.FAILED, None), (DeliveryStatus.SENDING, current - timedelta(hours=2))):
            db_session.add(Notification(recipient_id=junior.id, kind="followup_todo", status=status,
                                        dedupe_key=f"home:{status}:{code}", due_at=current - timedelta(hours=3),
                                        next_attempt_at=current - timedelta(hours=3), claimed_at=claimed,
                                        claimed_by="gone" if claimed else None, attempts=3,
                                        last_error="550" if status == DeliveryStatus.FAILED else "",
                                        created_at=current - timedelta(hours=3)))
        enqueue("org.staff_import", {"token": f"home-{code}"}, created_by=p.get("hr"))
        db_session.commit()


def give_teaching_work(p: People, n: int, tag: str = "") -> None:
    """`n` short answers of the colleague's waiting for the instructor to grade; today's rosters and
    the mentor's reviews come with `give_employee_work`."""
    colleague, instructor = p.get("colleague"), p.get("instructor")
    for i in range(n):
        code = f"{tag}{i}"
        course = _quiz_course(f"GRADE-{code}", SHORT_QUIZ)
        place = _past_place(course, colleague, instructor)
        quiz = quizzes.quiz_for_course(course.id)
        assert quiz is not None
        attempt = quizzes.start_or_resume(colleague, place, quiz)
        quizzes.submit(attempt, {question.id: "報告の大切さ" for question in quiz.questions})
        db_session.commit()
