"""Taking a module at one's own pace: progress saved page by page, resuming where one left off,
the closing quiz, and the completion (certificate, assignment met) it leads to."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from app.assessment import quizzes
from app.assessment.models import QuestionType
from app.audit.models import AuditEvent
from app.completion.models import Completion
from app.completion.services import valid_completion
from app.core.clock import now
from app.core.db import db_session
from app.elearning import services
from app.elearning.models import ModuleProgress, PageView, ProgressState
from app.elearning.queries import my_modules, pages_read, prestudy_by_employee
from tests import factories
from tests.elearning.conftest import QUIZ, elearning_course, module


def _read_all(person, course, key="main"):  # type: ignore[no-untyped-def]
    found = services.module_of(course, key)
    assert found is not None
    outcome = None
    for page in found.pages:
        outcome = services.read_page(person, course, found, page.number)
    db_session.commit()
    return outcome


def _pass_quiz(person, course, *, right: bool = True):  # type: ignore[no-untyped-def]
    quiz = quizzes.quiz_for_course(course.id)
    progress = db_session.scalar(select(ModuleProgress).where(ModuleProgress.employee_id == person.id))
    attempt = quizzes.self_paced_start_or_resume(person, quiz, services.quiz_closed_because(progress))
    answers = {q.id: ("1" if q.type == QuestionType.SINGLE else ("false" if right else "true")) for q in quiz.questions}
    if not right:
        answers = {q.id: ("0" if q.type == QuestionType.SINGLE else "true") for q in quiz.questions}
    quizzes.submit(attempt, answers)
    db_session.commit()
    return attempt


def test_reading_saves_each_page_once_and_remembers_where_to_resume(ctx: Flask) -> None:
    person = factories.employee()
    course = elearning_course(module(pages=4))
    found = services.module_of(course, "main")
    assert found is not None
    services.read_page(person, course, found, 1)
    services.read_page(person, course, found, 2)
    services.read_page(person, course, found, 2)  # a reload of the button: nothing twice
    db_session.commit()
    progress = db_session.scalar(select(ModuleProgress).where(ModuleProgress.employee_id == person.id))
    assert progress is not None and progress.state == ProgressState.IN_PROGRESS
    assert progress.last_page == 3  # the next page to read
    assert pages_read(progress) == {1, 2}
    assert db_session.scalar(select(func.count()).select_from(PageView)) >= 2
    again = services.start_module(person, course, found)  # "Resume": the same progress, same place
    assert again.id == progress.id and again.last_page == 3


def test_a_module_without_quiz_completes_the_course_with_a_certificate_and_meets_the_assignment(ctx: Flask) -> None:
    person = factories.employee(grade_code="SHUNIN")
    course = elearning_course(module(pages=2))
    factories.assignment_rule(course, "SHUNIN")
    outcome = _read_all(person, course)
    assert outcome is not None and outcome.module_completed and outcome.completion is not None
    completion = valid_completion(person.id, course.id)
    assert completion is not None and completion.enrolment_id is None and completion.certificate_code
    assert completion.hours == course.hours
    assert [m.progress.state for m in my_modules(person.id)] == [ProgressState.COMPLETED]
    client = ctx.test_client()
    factories.login_as(client, person)
    page = client.get("/my-learning").get_data(as_text=True)
    assert "修了" in page  # the assignment shows as completed


def test_with_a_quiz_the_module_waits_for_a_pass_and_a_fail_does_not_complete(ctx: Flask) -> None:
    person = factories.employee()
    course = elearning_course(module(pages=2, quiz=True), quiz=QUIZ)
    quiz = quizzes.quiz_for_course(course.id)
    assert quiz is not None
    assert services.quiz_closed_because(None) is not None  # not open before the pages are read
    outcome = _read_all(person, course)
    assert outcome is not None and outcome.progress.state == ProgressState.QUIZ_DUE and outcome.completion is None
    _pass_quiz(person, course, right=False)
    assert valid_completion(person.id, course.id) is None
    _pass_quiz(person, course, right=True)
    progress = db_session.scalar(select(ModuleProgress).where(ModuleProgress.employee_id == person.id))
    assert progress is not None and progress.state == ProgressState.COMPLETED
    assert valid_completion(person.id, course.id) is not None


def test_the_quiz_cannot_start_before_every_page_is_read(ctx: Flask) -> None:
    person = factories.employee()
    course = elearning_course(module(pages=2, quiz=True), quiz=QUIZ)
    quiz = quizzes.quiz_for_course(course.id)
    found = services.module_of(course, "main")
    services.read_page(person, course, found, 1)  # type: ignore[arg-type]
    progress = db_session.scalar(select(ModuleProgress).where(ModuleProgress.employee_id == person.id))
    try:
        quizzes.self_paced_start_or_resume(person, quiz, services.quiz_closed_because(progress))  # type: ignore[arg-type]
    except quizzes.QuizError as error:
        assert "ページ" in str(error) or "page" in str(error)
    else:
        raise AssertionError("the quiz opened before the pages were read")


def test_pre_study_completes_nothing_by_itself_and_the_roster_query_sees_it(ctx: Flask) -> None:
    done, started, idle = (factories.employee() for _ in range(3))
    course = elearning_course(module("prestudy", pages=2, before_session=True), delivery_format="blended")
    _read_all(done, course, "prestudy")
    found = services.module_of(course, "prestudy")
    services.read_page(started, course, found, 1)  # type: ignore[arg-type]
    db_session.commit()
    assert valid_completion(done.id, course.id) is None
    status = prestudy_by_employee(course, [done.id, started.id, idle.id])
    assert status[done.id].is_done and not status[started.id].is_done and status[started.id].started
    assert not status[idle.id].started


def test_the_course_completes_only_when_every_self_paced_module_is_done(ctx: Flask) -> None:
    person = factories.employee()
    course = elearning_course(module("one", pages=1), module("two", pages=1),
                              module("pre", pages=1, before_session=True))
    _read_all(person, course, "one")
    assert valid_completion(person.id, course.id) is None
    _read_all(person, course, "two")
    assert valid_completion(person.id, course.id) is not None  # the pre-study module is not needed
    events = db_session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(course.id))).all()
    assert events.count("elearning.module_completed") == 2


def test_reading_a_page_that_does_not_exist_is_refused(ctx: Flask) -> None:
    person = factories.employee()
    course = elearning_course(module(pages=1))
    found = services.module_of(course, "main")
    try:
        services.read_page(person, course, found, 5)  # type: ignore[arg-type]
    except services.ElearningError:
        pass
    else:
        raise AssertionError("a missing page was saved")


def test_a_completion_recorded_by_hand_is_kept_and_not_doubled(ctx: Flask) -> None:
    hr = factories.employee(roles=())
    person = factories.employee()
    course = elearning_course(module(pages=1))
    from app.completion.services import record_manual_completion

    record_manual_completion(hr, person, course, (now() - timedelta(days=3)).date(), course.hours, "集合研修で受講")
    db_session.commit()
    _read_all(person, course)
    assert db_session.scalar(select(func.count()).select_from(Completion).where(
        Completion.employee_id == person.id, Completion.revoked_at.is_(None))) == 1
