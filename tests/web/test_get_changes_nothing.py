"""State only changes on POST (issue 14): every GET route, as every role, leaves the database as
it was; and every GET route answers HEAD the way it answers GET.

A small but complete world is built once in a committed database of its own (not the rolled-back
transaction of tests/conftest.py: a write made by a GET must really commit to be seen): units with
heads, staff of several grades, HR, an administrator, an instructor and a mentor; courses with
sessions, one with a quiz and a survey; enrolments in every state; attendance; completions with
certificates; a cohort with applications, a team, milestones and a submission with a file;
notifications in the outbox; a published half-year report; background jobs; a calendar feed and
an unlock link. Then every rule of app.url_map that allows GET is requested as each role with its
URL arguments filled from that world (ARGUMENT_KINDS; a rule whose arguments cannot be filled must
be in UNFILLABLE with a reason), and:

- no answer is a 5xx;
- a fingerprint of every table (row count and a hash of all rows in primary-key order, from
  app.models' metadata) is the same after each role's crawl as before it;
- no GET sends an INSERT, UPDATE or DELETE at all (this names the request that wrote; the
  fingerprint is the judge for writes made any other way).

The same is asked of HEAD, which must also answer with GET's status, redirect and content type
and no body (Flask answers HEAD with the GET view: a view that tells requests apart by
`request.method == "GET"` sends HEAD down its POST branch). Each role's crawl is made once and
shared by the tests (`crawls`); a last test checks that every page showed something (a 200) to
someone, so the world keeps the crawl meaningful as the app grows.
"""
from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select

from app import models  # noqa: F401  (every table registered on the metadata)
from app.assessment import quizzes, surveys
from app.assessment.models import Question, QuestionType, Quiz
from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.auth.throttling import ThrottlePolicy, issue_unlock
from app.catalog.services import save_course, spec_from_course
from app.cohorts import services as cohorts
from app.cohorts.models import Decision, Milestone, MilestoneKind, SubmissionFile
from app.cohorts.uploads import check_upload
from app.completion.models import Completion
from app.completion.services import evaluate_enrolment, record_manual_completion
from app.core.clock import now, today
from app.core.db import Base, db_session
from app.core.fiscal import fiscal_half_of, fiscal_year_of
from app.elearning import services as elearning
from app.elearning.media import check_media
from app.enrollment.models import Enrolment, EnrolmentState
from app.enrollment.services import cancel, decline, enrol, reset_calendar_feed
from app.jobs import services as jobs
from app.org.jobs import KIND as STAFF_IMPORT
from app.org.models import Employee, RoleName
from app.org.reference import ensure_grades
from app.reminders.models import DeliveryStatus, KindSetting, MessageTemplate, Notification, OptOut
from app.reminders.services import queue
from app.reports.models import HalfYearReport
from app.scheduling.services import cancel_session
from tests import factories
from tests.confirming import press_confirm
from tests.conftest import build_app, migrate

ROLES = ("anonymous", "employee", "manager", "department_head", "hr", "instructor", "mentor", "admin")

# Columns a GET may legitimately write, each with the reason. Empty on purpose: a signed-in
# session's `user_sessions.last_seen_at` would be the candidate, but app/auth/login.py touches it
# only on writing requests (never on GET/HEAD), so it is compared like everything else.
IGNORED_COLUMNS: dict[str, frozenset[str]] = {}

# URL argument name -> the kind of world object that fills it.
ARGUMENT_KINDS: dict[str, str] = {
    "session_id": "training_session",
    "enrolment_id": "enrolment",
    "employee_id": "employee",
    "meeting_id": "meeting",
    "code": "course_code",
    "cohort_id": "cohort",
    "submission_id": "submission",
    "file_id": "submission_file",
    "attempt_id": "quiz_attempt",
    "job_id": "job",
    "notification_id": "notification",
    "completion_id": "completion",
    "slug": "public_report_slug",
    "kind": "message_kind",
    "milestone": "milestone_kind",
    "locale": "locale",
    "key": "module_key",
    "number": "page_number",
    "name": "media_name",
}
# Where an argument name means something else on a particular endpoint.
ENDPOINT_ARGUMENT_KINDS: dict[tuple[str, str], str] = {
    ("completion.certificate", "code"): "certificate_code",
    ("completion.certificate_pdf", "code"): "certificate_code",
    ("completion.verify", "code"): "certificate_code",
    ("enrollment.feed", "token"): "calendar_token",
    ("auth.unlock", "token"): "unlock_token",
    ("auth.oidc_callback", "name"): "oidc_provider",
    **{(endpoint, "code"): "elearning_course_code" for endpoint in (
        "elearning.module", "elearning.page", "elearning.media", "elearning.manage_media",
        "assessment.self_paced_quiz", "assessment.self_paced_result")},
}
# Rules (endpoint -> why) whose arguments nothing in the world can fill. A GET rule with an
# argument missing from the maps above fails the test unless it is listed here.
UNFILLABLE: dict[str, str] = {
    "static": "files, not views: served from app/static, no database",
}
# Endpoints that answer every GET with a redirect by design (endpoint -> where to).
ONLY_REDIRECTS: dict[str, str] = {
    "completion.my_transcript": "the signed-in person's own transcript page",
    "ops.metrics": "answers only a scraper's bearer token, never a signed-in role (tests/web/test_metrics.py)",
    "auth.oidc_callback": "a provider's return address: without a sign-in in progress, back to the sign-in page "
                          "(or home when signed in); a real provider's answer is in tests/auth/test_oidc.py",
}

WORLD_VALUES = 2  # values of each kind tried besides the role's own

_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(\w+)>")
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE|UPSERT|TRUNCATE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


# --- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    app: Flask
    logins: dict[str, str]  # role -> employee number
    objects: dict[str, list[Any]]  # kind -> values for URL arguments, the most telling first
    own: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # (role, kind) -> the role's own
    queries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # endpoint -> extra query strings

    def values(self, kind: str, role: str, *, others: int = WORLD_VALUES) -> list[Any]:
        """The role's own objects of this kind (a notification, an enrolment), then the world's
        first few (the crawl's length grows with their product; the first are the most telling)."""
        seen: list[Any] = []
        for value in [*self.own.get((role, kind), []), *self.objects.get(kind, [])[:others]]:
            if value not in seen:
                seen.append(value)
        return seen


def _build_world(application: Flask, upload_dir: Path) -> World:
    with application.test_request_context():
        ensure_grades()
        db_session.commit()
        # The organisation: a department with two divisions (heads on both levels), and the
        # personnel department where HR, the administrator, the instructor and the mentor work.
        department = factories.unit("検証事業部")
        division = factories.unit("検証一課", parent=department)
        second = factories.unit("検証二課", parent=department)
        personnel_dept = factories.unit("総務部")
        personnel = factories.unit("人事課", parent=personnel_dept)
        p: dict[str, Employee] = {
            "department_head": factories.employee(department, "BUCHO", heads=department, name="部長 一郎"),
            "manager": factories.employee(division, "KACHO", heads=division, name="課長 二郎"),
            "employee": factories.employee(division, "SHUNIN", name="主任 三郎"),
            "colleague": factories.employee(division, "SHUSA", name="主査 四郎"),
            "junior": factories.employee(division, "SHUJI", name="主事 五郎"),
            "assistant": factories.employee(second, "HOSA", name="補佐 六郎"),
            "hr": factories.employee(personnel, "HOSA", roles=(RoleName.HR,), name="人事 七子"),
            "admin": factories.employee(personnel, "SHUSA", roles=(RoleName.ADMIN,), name="管理 八子"),
            "instructor": factories.employee(personnel, "SHUSA", roles=(RoleName.INSTRUCTOR,), name="講師 九子"),
            "mentor": factories.employee(personnel, "KACHO", roles=(RoleName.MENTOR,), name="指導 十子"),
            "former": factories.employee(second, "SHUNIN", name="退職 十一", active=False),
        }
        hr, instructor = p["hr"], p["instructor"]

        # Courses: A has a quiz and a survey and a session that has taken place; B has an
        # upcoming session that needs the manager's approval; C is cancelled from; D is completed
        # outside; a draft, a retired course and a second version of A for the designer's pages.
        grades = ("SHUNIN", "SHUSA", "SHUJI", "HOSA")
        current_fy = fiscal_year_of(today()).year
        half = fiscal_half_of(today()).half
        course_a = factories.course("GET-A", title_ja="検証研修A（テストとアンケート）", grades=grades,
                                    quiz_pass_mark=60, survey_required=True, fiscal_year=current_fy)
        course_b = factories.course("GET-B", title_ja="検証研修B（承認制）", grades=grades, fiscal_year=current_fy)
        course_c = factories.course("GET-C", title_ja="検証研修C", grades=grades, fiscal_year=current_fy)
        course_d = factories.course("GET-D", title_ja="検証研修D（外部）", grades=grades, fiscal_year=current_fy)
        course_e = factories.course("GET-E", title_ja="検証研修E（時間制限テスト）", grades=grades, quiz_pass_mark=60,
                                    fiscal_year=current_fy)
        draft = factories.course("GET-DRAFT", status="draft", fiscal_year=current_fy)
        factories.course("GET-OLD", status="retired", fiscal_year=current_fy)
        spec = spec_from_course(course_a)
        spec.body_md = "## ねらい\n\n第2版の本文\n"
        save_course(hr, course_a, spec, "第2版")
        db_session.commit()
        factories.assignment_rule(course_b, "SHUNIN", fiscal_year=current_fy, due_on=today() + timedelta(days=60))

        # Course A's session (two meetings) and course E's took place two weeks ago: the
        # employee, the colleague and the junior came to A, the employee to E.
        with time_machine.travel(now() - timedelta(days=24), tick=True):
            past = factories.training_session(course_a, instructors=(instructor,), meetings=2,
                                              starts_in=timedelta(days=7), label="過去回")
            past_places = {name: factories.enrolment(p[name], past) for name in ("employee", "colleague", "junior")}
            timed_session = factories.training_session(course_e, instructors=(instructor,), starts_in=timedelta(days=7),
                                                       label="時間制限回")
            timed_place = factories.enrolment(p["employee"], timed_session)
        quiz = Quiz(course_id=course_a.id, pass_mark=60, attempts_allowed=3, time_limit_minutes=None, shuffle=False,
                    show_answers=True, show_answers_between_attempts=False, opens_after_session=True, spec_hash="web",
                    updated_at=now())
        db_session.add(quiz)
        db_session.flush()
        quizzes.replace_questions(quiz, [
            {"type": "single", "text": "個人情報の管理責任者は？",
             "choices": ["所属長", "本人"], "answer": 0, "points": 1},
            {"type": "short", "text": "学んだことを一つ書いてください。",
             "choices": [], "answer": "自由記述", "points": 1},
        ])
        db_session.commit()
        questions = list(db_session.scalars(select(Question).where(Question.quiz_id == quiz.id)
                                            .order_by(Question.position)))
        single, short = questions[0], questions[1]
        assert short.type == QuestionType.SHORT
        for name, place in past_places.items():
            for meeting in past.meetings:
                status = AttendanceStatus.LATE if name == "junior" else AttendanceStatus.PRESENT
                set_mark(instructor, place, meeting, status)
        db_session.commit()
        # The employee's attempt waits for grading; the colleague's was graded and passed.
        waiting = quizzes.start_or_resume(p["employee"], past_places["employee"], quiz)
        quizzes.submit(waiting, {single.id: "1", short.id: "報告の大切さ"})
        graded = quizzes.start_or_resume(p["colleague"], past_places["colleague"], quiz)
        quizzes.submit(graded, {single.id: "0", short.id: "管理者の責任"})
        db_session.commit()
        answer = next(a for a in graded.answers if a.question_id == short.id)
        quizzes.grade_attempt(instructor, graded, {answer.id: (1, "よくできました", quizzes.AS_READ)})
        db_session.commit()
        # The employee has a second attempt open (GET shows it); on course E an attempt ran out
        # of time an hour ago (GET must leave it for the next POST to close and mark).
        quizzes.start_or_resume(p["employee"], past_places["employee"], quiz)
        timed = Quiz(course_id=course_e.id, pass_mark=60, attempts_allowed=2, time_limit_minutes=5, shuffle=False,
                     show_answers=True, show_answers_between_attempts=False, opens_after_session=True,
                     spec_hash="web", updated_at=now())
        db_session.add(timed)
        db_session.flush()
        quizzes.replace_questions(timed, [{"type": "true_false", "text": "研修は業務である。", "choices": [],
                                           "answer": True, "points": 1}])
        db_session.commit()
        with time_machine.travel(now() - timedelta(hours=1), tick=True):
            expired = quizzes.start_or_resume(p["employee"], timed_place, timed)
            db_session.commit()
        for meeting in timed_session.meetings:
            set_mark(instructor, timed_place, meeting, AttendanceStatus.PRESENT)
        db_session.commit()
        survey = surveys.ensure_survey(course_a)
        for name in ("colleague", "junior"):
            surveys.answer(p[name], past_places[name], survey,
                           {f"q{q.position}": "4" for q in survey.questions})
        db_session.commit()
        for place in past_places.values():
            db_session.refresh(place)
            evaluate_enrolment(place)
        manual = record_manual_completion(hr, p["employee"], course_d, today() - timedelta(days=30), Decimal("3"),
                                          "外部研修 修了証 第123号")
        db_session.commit()

        # Course B's session is full: every state of an enrolment is in it.
        upcoming = factories.training_session(course_b, capacity=2, policy="manager", instructors=(instructor,),
                                              label="承認回")
        seated = enrol(hr, p["colleague"], upcoming, override_rules=True).enrolment  # confirmed (HR approved)
        requested = enrol(p["junior"], p["junior"], upcoming, override_rules=True).enrolment  # pending, holds a seat
        waitlisted = enrol(hr, p["assistant"], upcoming, override_rules=True).enrolment  # approved, no seat
        declined = enrol(p["employee"], p["employee"], upcoming, override_rules=True).enrolment
        db_session.commit()
        decline(p["manager"], declined, "業務繁忙のため")
        db_session.commit()
        session_c = factories.training_session(course_c, label="取消回")
        cancelled = factories.enrolment(p["employee"], session_c)
        cancel(p["employee"], cancelled, "都合により")
        factories.enrolment(p["colleague"], session_c)
        db_session.commit()
        dropped = factories.training_session(course_c, starts_in=timedelta(days=40), label="中止回")
        factories.enrolment(p["junior"], dropped)
        cancel_session(hr, dropped, "講師の都合")
        db_session.commit()

        # The cohort: the employee was endorsed and selected and is in a team with a mentor, and
        # has submitted the plan with a file; the colleague's application waits for the manager,
        # the assistant's for the department head.
        cohort = factories.cohort(quota=3)
        theme = cohorts.THEMES[0]
        mine = cohorts.apply(p["employee"], cohort, "業務を改善したい", theme, ["窓口のデジタル化"])
        cohorts.apply(p["colleague"], cohort, "学びたい", theme, ["庁内の情報共有"])
        cohorts.apply(p["assistant"], cohort, "挑戦したい", theme, ["現場の負担軽減"])
        db_session.commit()
        cohorts.endorse(p["manager"], mine, True, "推薦します")
        db_session.commit()
        cohorts.decide(hr, mine, Decision.SELECTED)
        db_session.commit()
        team = cohorts.form_team(hr, cohort, "チーム窓口", division, theme, "窓口の待ち時間", [p["employee"]],
                                 [p["mentor"]])
        db_session.commit()
        plan = db_session.scalar(select(Milestone).where(Milestone.cohort_id == cohort.id,
                                                         Milestone.kind == MilestoneKind.PLAN))
        pdf = check_upload("plan.pdf", b"%PDF-1.4\n% plan\n", application.config["COHORT_UPLOAD_MAX_BYTES"])
        submission = cohorts.submit_work(p["employee"], plan, team,
                                         "## 計画\n\n窓口の待ち時間を半分に", [pdf], upload_dir)
        db_session.commit()

        # Notifications: whatever the above queued, one for each person, and a sent and a failed one.
        for name, person in p.items():
            todo = queue(person.id, "followup_todo", f"get-crawl:{name}",
                         {"course": course_a.title_ja, "todo": "アンケート"})
            assert todo is not None
            todo.status, todo.sent_at = DeliveryStatus.SENT, now()  # in the inbox, unread
        db_session.commit()
        outbox = list(db_session.scalars(select(Notification).order_by(Notification.id)))
        outbox[0].status, outbox[0].sent_at = DeliveryStatus.SENT, now()
        outbox[1].status, outbox[1].last_error = DeliveryStatus.FAILED, "550 mailbox unavailable"
        outbox[2].read_at = now()
        db_session.add(MessageTemplate(kind="enrolment_confirmed", locale="ja", subject="【研修】確定：{course}",
                                       body="{name} 様\n確定です。", updated_at=now(), updated_by_id=hr.id))
        db_session.add(OptOut(employee_id=p["employee"].id, kind="session_reminder"))
        db_session.merge(KindSetting(kind="session_reminder", is_enabled=True, offsets=[3, 1]))
        db_session.commit()

        # A calendar feed, an unlock link, background jobs (one queued, one done).
        calendar_token = reset_calendar_feed(p["employee"])
        unlock = issue_unlock(p["employee"].id, ThrottlePolicy.from_config(application.config), now())
        assert unlock is not None
        queued_job = jobs.enqueue(STAFF_IMPORT, {"token": "none"}, created_by=p["employee"])
        done_job = jobs.enqueue(STAFF_IMPORT, {"token": "none"}, created_by=hr)
        db_session.flush()
        assert jobs.claim(done_job.id, "get-crawl") and jobs.finish(done_job.id, "get-crawl", {"ok": True})
        db_session.commit()

        ids = {name: person.id for name, person in p.items()}
        logins = {name: person.employee_number for name, person in p.items()}
        enrolments = {"past": past_places["employee"].id, "completed": past_places["colleague"].id,
                      "confirmed": seated.id, "pending": requested.id, "waitlisted": waitlisted.id,
                      "declined": declined.id, "cancelled": cancelled.id}
        states = dict(db_session.execute(select(Enrolment.id, Enrolment.state).where(
            Enrolment.id.in_(enrolments.values()))).all())
        assert {states[i] for i in enrolments.values()} == set(EnrolmentState), states
        certificates = list(db_session.scalars(select(Completion.certificate_code).order_by(Completion.id)))
        completion_ids = list(db_session.scalars(select(Completion.id).order_by(Completion.id)))
        assert manual.certificate_code in certificates and len(certificates) >= 2, certificates
        files = list(db_session.scalars(select(SubmissionFile.id).where(SubmissionFile.submission_id == submission.id)))
        notifications = {person_id: [row[1] for row in rows] for person_id, rows in itertools.groupby(
            db_session.execute(select(Notification.recipient_id, Notification.id)
                               .order_by(Notification.recipient_id, Notification.id)).all(), key=lambda r: r[0])}
        own_notifications = {name: notifications.get(person_id, [])[:2] for name, person_id in ids.items()}
        own_enrolments = {name: list(db_session.scalars(select(Enrolment.id).where(Enrolment.employee_id == person_id)
                                                        .order_by(Enrolment.id)))
                          for name, person_id in ids.items()}
        meetings = [past.meetings[0].id, upcoming.meetings[0].id, dropped.meetings[0].id]
        # E-learning: a course studied at one's own pace, its module closed by the quiz, and a
        # pre-study module; the employee has read every page (the quiz is open, an attempt begun),
        # the colleague one page of the pre-study; a figure is stored for the pages.
        self_paced = factories.course("GET-EL", title_ja="検証研修EL（eラーニング）", grades=grades, min_attendance=0,
                                      quiz_pass_mark=60, delivery_format="elearning", fiscal_year=current_fy)
        self_paced.modules_spec = [
            {"key": "main", "title": {"ja": "本編", "en": "Main"}, "quiz": True,
             "pages": [{"title": "一", "body": "![図](media/figure.png)\n"}, {"title": "二", "body": "本文\n"}]},
            {"key": "prestudy", "title": {"ja": "事前", "en": "Pre"}, "before_session": True,
             "pages": [{"title": "一", "body": "本文\n"}, {"title": "二", "body": "本文\n"}]}]
        self_paced.quiz_spec = {"pass_mark": 60, "attempts_allowed": 2, "questions": [
            {"type": "true_false", "text": "自分のペースで学べる。", "answer": True, "points": 1}]}
        self_paced_quiz = quizzes.materialize_quiz(self_paced)
        main_module = elearning.module_of(self_paced, "main")
        prestudy_module = elearning.module_of(self_paced, "prestudy")
        assert self_paced_quiz is not None and main_module is not None and prestudy_module is not None
        for page in main_module.pages:
            elearning.read_page(p["employee"], self_paced, main_module, page.number)
        elearning.read_page(p["colleague"], self_paced, prestudy_module, 1)
        quizzes.self_paced_start_or_resume(p["employee"], self_paced_quiz, None)
        elearning.store_media(hr, self_paced, check_media("figure.png", b"\x89PNG\r\n\x1a\n" + bytes(32), 10**6),
                              upload_dir)
        db_session.commit()
        world = World(
            app=application,
            logins={role: logins[role] for role in ROLES if role != "anonymous"},
            objects={
                "training_session": [past.id, upcoming.id, dropped.id],
                "enrolment": [enrolments[k] for k in ("completed", "pending", "past", "waitlisted", "declined",
                                                      "cancelled", "confirmed")],
                "employee": [ids["employee"], ids["assistant"], ids["former"], ids["hr"]],
                "meeting": meetings,
                "course_code": [course_a.code, course_b.code, draft.code, cohort.programme.code],
                "certificate_code": certificates,
                "completion": completion_ids,
                "cohort": [cohort.id],
                "submission": [submission.id],
                "submission_file": files,
                "quiz_attempt": [waiting.id, graded.id, expired.id],
                "job": [queued_job.id, done_job.id],
                "notification": [own_notifications["colleague"][0]],
                "message_kind": ["enrolment_confirmed", "session_reminder"],
                "locale": ["ja", "en"],
                "milestone_kind": ["plan", "presentation"],
                "calendar_token": [calendar_token],
                "unlock_token": [unlock[1]],
                "public_report_slug": [],  # published below, through HR's page
                "elearning_course_code": [self_paced.code, course_a.code],
                "module_key": ["main", "prestudy"],
                "page_number": [1, 2],
                "media_name": ["figure.png"],
                "oidc_provider": ["pref"],  # none is configured in this world: back to the sign-in page
            },
        )
        for role in world.logins:
            world.own[(role, "notification")] = own_notifications[role]
            world.own[(role, "enrolment")] = own_enrolments[role]
            world.own[(role, "employee")] = [ids[role]]
        fy = str(current_fy)
        world.queries = {
            "completion.verify": [{"code": certificates[0]}],
            "catalog.index": [{"open": "1"}, {"q": "検証", "fy": fy}],
            "catalog.design": [{"q": "GET"}],
            "org.staff": [{"q": "主任", "inactive": "1"}],
            "audit.events": [{"action": "cohorts"}],
            "reminders.outbox": [{"status": "failed"}, {"kind": "followup_todo"}],
            "reports.dashboard": [{"fy": fy, "half": str(half)}],
            "reports.drilldown": [{"fy": fy, "department": department.code}, {"fy": fy, "grade": "SHUNIN"},
                                  {"fy": fy, "course": course_a.code}],
            "reports.half_year": [{"fy": fy, "half": str(half)}, {"fy": fy, "half": str(half), "print": "1"}],
            "reports.half_year_xlsx": [{"fy": fy, "half": str(half)}],
            "reports.plans": [{"fy": fy}],
            "assessment.survey_results": [{"session": str(past.id)}],
            "auth.login": [{"next": "/my-learning"}],
            "catalog.new_course": [{"kind": "programme"}],
        }

    # HR plans course A and publishes the half-year report through the pages that do it (of the
    # half before this one: a half is published only once it is over).
    client = application.test_client()
    factories.login(client, logins["hr"])
    plans = factories.post(client, f"/reports/plans?fy={current_fy}", {f"plan-{course_a.id}": "20"})
    assert plans.status_code == 302, plans.get_data(as_text=True)[:300]
    past_fy, past_half = (current_fy, 1) if half == 2 else (current_fy - 1, 2)
    published = press_confirm(client, factories.post(client, f"/reports/half-year?fy={past_fy}&half={past_half}",
                                                     {"narrative": "上期の振り返り", "action": "publish"}))
    assert published.status_code == 302, published.get_data(as_text=True)[:300]
    with application.app_context():
        slug = db_session.scalar(select(HalfYearReport.public_slug).where(HalfYearReport.published_at.is_not(None)))
        assert slug
        world.objects["public_report_slug"] = [slug]
    return world


@pytest.fixture(scope="module")
def world(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    upload_dir = Path(tmp_path_factory.mktemp("get-crawl-uploads"))
    application = build_app(make_database_url(), upload_dir)
    migrate(application)
    yield _build_world(application, upload_dir)
    application.extensions["manabi.engine"].dispose()


# --- what the database holds, and who wrote ------------------------------------------------------


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Every table of the models: (row count, SHA-256 of all rows in primary-key order)."""
    result = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            skipped = IGNORED_COLUMNS.get(table.name, frozenset())
            columns = [c for c in table.columns if c.name not in skipped]
            order = list(table.primary_key.columns) or columns
            digest = hashlib.sha256()
            count = 0
            for row in connection.execute(select(*columns).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
                count += 1
            result[table.name] = (count, digest.hexdigest())
        connection.rollback()
    return result


def changed_tables(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> dict[str, str]:
    return {name: f"{before[name][0]} -> {after[name][0]} rows" + ("" if before[name][0] != after[name][0]
                                                                   else " (same count, rows changed)")
            for name in before if before[name] != after[name]}


class WriteRecorder:
    """The INSERT/UPDATE/DELETE statements the app's engine sends while `requesting` names a request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.requesting: str | None = None
        self.writes: dict[str, list[str]] = {}

    def _seen(self, _conn, _cursor, statement, _parameters, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
        if self.requesting is not None and _WRITE.match(statement):
            self.writes.setdefault(self.requesting, []).append(" ".join(statement.split())[:160])

    def __enter__(self) -> WriteRecorder:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


# --- the crawl -----------------------------------------------------------------------------------


def _get_rules(app: Flask) -> list[Any]:
    return sorted((r for r in app.url_map.iter_rules() if "GET" in (r.methods or set())), key=lambda r: r.rule)


def _argument_kind(endpoint: str, argument: str) -> str | None:
    return ENDPOINT_ARGUMENT_KINDS.get((endpoint, argument)) or ARGUMENT_KINDS.get(argument)


def unfillable_rules(world: World) -> dict[str, list[str]]:
    """Rules (not in UNFILLABLE) with an argument nothing fills: rule -> the arguments."""
    missing = {}
    for rule in _get_rules(world.app):
        if rule.endpoint in UNFILLABLE:
            continue
        lacking = [a for a in rule.arguments if not world.values(_argument_kind(rule.endpoint, a) or "?", "hr")]
        if lacking:
            missing[rule.rule] = lacking
    return missing


def urls_for(world: World, role: str, *, fewer: bool = False) -> list[tuple[str, str]]:
    """(endpoint, URL) for every GET rule with every combination of its arguments' values, and
    the extra query strings the world lists for the endpoint. `fewer`: of the world's values
    only the first beside the role's own, and no extra query strings."""
    found = []
    for rule in _get_rules(world.app):
        if rule.endpoint in UNFILLABLE:
            continue
        names = _ARGUMENT.findall(rule.rule)
        choices = [world.values(_argument_kind(rule.endpoint, name) or "?", role, others=1 if fewer else WORLD_VALUES)
                   for name in names]
        for combination in itertools.product(*choices):
            values = iter(combination)
            path = _ARGUMENT.sub(lambda _m, values=values: quote(str(next(values)), safe=""), rule.rule)
            found.append((rule.endpoint, path))
            if not names and not fewer:
                found.extend((rule.endpoint, f"{path}?{urlencode(q)}") for q in world.queries.get(rule.endpoint, []))
    return found


@dataclass(frozen=True)
class Reply:
    status: int
    location: str | None
    content_type: str | None
    body_length: int


@dataclass
class Crawl:
    """What one role's visits did: the GETs of every URL, then HEADs of fewer (`urls_for`)."""

    answers: dict[tuple[str, str], Reply]  # (method, URL) -> answer
    endpoints: dict[str, str]  # URL -> endpoint
    writes: dict[str, dict[str, list[str]]]  # method -> "endpoint URL" -> write statements sent
    changed: dict[str, dict[str, str]]  # method -> tables whose fingerprint changed meanwhile


def _client(world: World, role: str) -> FlaskClient:
    client = world.app.test_client()
    if role != "anonymous":
        response = factories.login(client, world.logins[role])
        assert response.status_code == 302, f"{role} could not sign in"
    return client


def crawl(world: World, role: str) -> Crawl:
    """Sign in as the role; GET every URL, then HEAD fewer URLs of each rule, with a
    fingerprint of the database before and after each pass and every write statement noted."""
    engine = world.app.extensions["manabi.engine"]
    client = _client(world, role)
    result = Crawl({}, {}, {}, {})
    for method, urls in (("GET", urls_for(world, role)), ("HEAD", urls_for(world, role, fewer=True))):
        before = fingerprint(engine)
        with WriteRecorder(engine) as recorder:
            for endpoint, url in urls:
                recorder.requesting = f"{endpoint} {url}"
                with client.open(url, method=method) as response:
                    result.answers[(method, url)] = Reply(response.status_code, response.headers.get("Location"),
                                                          response.headers.get("Content-Type"),
                                                          len(response.get_data()))
                recorder.requesting = None
                result.endpoints[url] = endpoint
        result.writes[method] = recorder.writes
        result.changed[method] = changed_tables(before, fingerprint(engine))
    return result


@pytest.fixture(scope="module")
def crawls(world: World) -> dict[str, Crawl]:
    return {}  # role -> Crawl, made by whichever test needs the role first


def _crawl_of(world: World, crawls: dict[str, Crawl], role: str) -> Crawl:
    if role not in crawls:
        crawls[role] = crawl(world, role)
    return crawls[role]


def test_the_world_fills_every_get_route(world: World) -> None:
    assert unfillable_rules(world) == {}, "fill these arguments (ARGUMENT_KINDS) or list the rule in UNFILLABLE"
    endpoints = {rule.endpoint for rule in world.app.url_map.iter_rules()}
    assert set(UNFILLABLE) <= endpoints, "UNFILLABLE lists routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_no_get_changes_the_database(world: World, crawls: dict[str, Crawl], role: str) -> None:
    result = _crawl_of(world, crawls, role)
    problems = [f"{a.status} from GET {url} ({result.endpoints[url]})"
                for (method, url), a in result.answers.items() if method == "GET" and a.status >= 500]
    problems += [f"GET {request} sent {statements}" for request, statements in result.writes["GET"].items()]
    problems += [f"the GET crawl changed {table}: {change}" for table, change in result.changed["GET"].items()]
    assert problems == [], f"as {role}:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_head_answers_like_get(world: World, crawls: dict[str, Crawl], role: str) -> None:
    result = _crawl_of(world, crawls, role)
    problems = []
    for (method, url), head in result.answers.items():
        if method != "HEAD":
            continue
        got = result.answers[("GET", url)]
        where = f"{url} ({result.endpoints[url]})"
        if head.status >= 500 or head.status != got.status:
            problems.append(f"HEAD {where}: {head.status}, GET: {got.status}")
        elif (head.location, head.content_type) != (got.location, got.content_type):
            problems.append(f"HEAD {where}: {head.location} {head.content_type}, "
                            f"GET: {got.location} {got.content_type}")
        if head.body_length:
            problems.append(f"HEAD {where} sent a body")
    problems += [f"HEAD {request} sent {statements}" for request, statements in result.writes["HEAD"].items()]
    problems += [f"the HEAD crawl changed {table}: {change}" for table, change in result.changed["HEAD"].items()]
    assert problems == [], f"as {role}:\n" + "\n".join(problems)


def test_every_page_shows_something_to_someone(world: World, crawls: dict[str, Crawl]) -> None:
    """The world stays complete: each GET endpoint answered 200 to at least one role (a page
    that only ever refuses or redirects is not really crawled)."""
    shown: dict[str, set[int]] = {}
    for role in ROLES:
        result = _crawl_of(world, crawls, role)
        for (method, url), reply in result.answers.items():
            if method == "GET":
                shown.setdefault(result.endpoints[url], set()).add(reply.status)
    # The JSON API answers only a token, never a browser's cookie: 401 to every role here (tests/api
    # calls it with tokens, schemathesis included; tests/test_permission_matrix.py), which this crawl
    # still checks changes nothing.
    api = {endpoint for endpoint in shown
           if getattr(world.app.view_functions[endpoint], "_access", "").startswith("api:")}
    blank = sorted(endpoint for endpoint, statuses in shown.items()
                   if 200 not in statuses and endpoint not in ONLY_REDIRECTS and endpoint not in api)
    assert blank == [], "no role saw these pages: give the world something for them to show"
    assert all(shown[endpoint] == {401} for endpoint in api), "the API answered a browser's cookie"
    assert set(ONLY_REDIRECTS) <= set(shown), "ONLY_REDIRECTS lists endpoints that are not crawled"
