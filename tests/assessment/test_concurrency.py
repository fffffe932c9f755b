"""Races of assessment through the real web stack, on SQLite and PostgreSQL (ARCHITECTURE.md
rule 11): a quiz started in three tabs at once starts one attempt; a quiz submitted three times at
once is submitted and graded once; two graders saving at once grade once; a survey sent twice at
once is answered once. Losers are told what happened, in Japanese, on the page they are
redirected to: never a 500 or a second effect.

Like tests/cohorts/test_concurrency.py this serves a freshly migrated database of its own with
real commits (not the rolled-back `app` fixture); each test makes its own course and people.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.assessment.models import (
    Answer,
    PendingSurveyResponse,
    QuestionType,
    QuizAttempt,
    SurveyReceipt,
    SurveyResponse,
)
from app.assessment.quizzes import materialize_quiz
from app.assessment.surveys import ensure_survey
from app.audit.models import AuditEvent
from app.completion.models import Completion
from app.core.clock import now
from app.core.db import db_session
from app.org.models import RoleName
from app.scheduling.models import Meeting, TrainingSession
from tests import factories
from tests.http_client import HttpClient
from tests.live_site import Site, served_site
from tests.racing import Post, assert_all_redirected, post_at_once, told

SPEC = {
    "pass_mark": 50,
    "attempts_allowed": 2,
    "questions": [
        {"type": "single", "text": "一つ選ぶ問題", "choices": ["甲", "乙", "丙"], "answer": 1, "points": 1},
        {"type": "true_false", "text": "正誤問題", "answer": False, "points": 1},
        {"type": "short", "text": "記述問題", "answer": "模範解答", "points": 2},
    ],
}


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with served_site(make_database_url, tmp_path_factory, "assessment") as served:
        yield served


@pytest.fixture(autouse=True)
def _fresh_errors(site: Site) -> None:
    site.errors.clear()  # each test answers for its own requests

@dataclass
class Learner:
    login: str
    enrolment_id: int
    instructor: str
    questions: dict[QuestionType, int]


def _learner(site: Site) -> Learner:
    """A confirmed learner of a session whose (only) meeting started ten minutes ago, with a quiz."""
    with site.app.app_context():
        instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
        course = factories.course(quiz_pass_mark=50, survey_required=True)
        course.quiz_spec = SPEC
        quiz = materialize_quiz(course)
        assert quiz is not None
        db_session.commit()
        person = factories.employee()
        training_session = factories.training_session(course, instructors=[instructor])
        enrolment = factories.enrolment(person, training_session)
        started = now() - timedelta(minutes=10)
        db_session.execute(update(Meeting).where(Meeting.session_id == training_session.id).values(
            starts_at=started, ends_at=started + timedelta(hours=3)))
        db_session.execute(update(TrainingSession).where(TrainingSession.id == training_session.id).values(
            starts_at=started, ends_at=started + timedelta(hours=3)))
        db_session.commit()
        return Learner(person.employee_number, enrolment.id, instructor.employee_number,
                       {q.type: q.id for q in quiz.questions})


def _answers(learner: Learner, short: str = "記述の答え") -> dict[str, str]:
    q = learner.questions
    return {"action": "submit", f"q{q[QuestionType.SINGLE]}": "1", f"q{q[QuestionType.TRUE_FALSE]}": "false",
            f"q{q[QuestionType.SHORT]}": short}


def _attempts(site: Site, enrolment_id: int) -> list[QuizAttempt]:
    with site.app.app_context():
        return list(db_session.scalars(select(QuizAttempt).where(QuizAttempt.enrolment_id == enrolment_id)))


def _start(browser: HttpClient, path: str) -> None:
    """Press the quiz page's start button (a POST: opening the page starts nothing)."""
    response = browser.post(f"{path}/start", {"csrf_token": browser.csrf_token(path)})
    assert response.status == 302 and response.headers["Location"].endswith(path), response.status


def test_a_quiz_started_in_three_tabs_at_once_starts_one_attempt(site: Site) -> None:
    learner = _learner(site)
    path = f"/enrolments/{learner.enrolment_id}/quiz"
    browsers = [site.browser(learner.login) for _ in range(3)]
    tokens = [b.csrf_token(path) for b in browsers]  # each tab shows the start button
    assert _attempts(site, learner.enrolment_id) == []

    results = post_at_once([Post(b, f"{path}/start", {"csrf_token": t}) for b, t in zip(browsers, tokens, strict=True)])

    assert_all_redirected(results, site.errors)
    assert all(not isinstance(r, BaseException) and r.headers["Location"].endswith(path) for r in results)
    (attempt,) = _attempts(site, learner.enrolment_id)
    assert attempt.attempt_no == 1 and attempt.submitted_at is None


def test_a_quiz_submitted_three_times_at_once_is_submitted_and_graded_once(site: Site) -> None:
    learner = _learner(site)
    path = f"/enrolments/{learner.enrolment_id}/quiz"
    browsers = [site.browser(learner.login) for _ in range(3)]
    _start(browsers[0], path)
    tokens = [b.csrf_token(path) for b in browsers]  # each tab shows the same open attempt
    answers = _answers(learner, short="")  # a blank short answer: graded at once (2 of 4 points, a pass)

    results = post_at_once([Post(b, path, {**answers, "csrf_token": t}) for b, t in zip(browsers, tokens, strict=True)])

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert messages == ["この回答は既に提出されています。"] * 2, messages  # the winner reads the result page
    (attempt,) = _attempts(site, learner.enrolment_id)
    assert attempt.submitted_at is not None and attempt.passed is True and (attempt.score, attempt.max_score) == (2, 4)
    with site.app.app_context():
        answers_stored = db_session.scalars(select(Answer.question_id).where(Answer.attempt_id == attempt.id)).all()
        assert sorted(answers_stored) == sorted(learner.questions.values())  # one answer per question
        assert db_session.scalar(select(func.count()).select_from(Completion).where(
            Completion.enrolment_id == learner.enrolment_id)) <= 1


def test_two_graders_saving_at_once_grade_once(site: Site) -> None:
    learner = _learner(site)
    path = f"/enrolments/{learner.enrolment_id}/quiz"
    browser = site.browser(learner.login)
    _start(browser, path)
    assert browser.post(path, {**_answers(learner), "csrf_token": browser.csrf_token(path)}).status == 302
    (attempt,) = _attempts(site, learner.enrolment_id)
    assert attempt.needs_grading
    with site.app.app_context():
        short = db_session.scalar(select(Answer.id).where(Answer.attempt_id == attempt.id,
                                                          Answer.question_id == learner.questions[QuestionType.SHORT]))
    grading = f"/grading/attempts/{attempt.id}"
    graders = [site.browser(learner.instructor), site.browser(site.hr_login), site.browser(learner.instructor)]
    posts = [Post(g, grading, {f"points-{short}": points, f"was-{short}": "", f"comment-{short}": "講評",
                               "csrf_token": g.csrf_token(grading)})
             for g, points in zip(graders, ("2", "0", "2"), strict=True)]

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    messages = sorted(m for post, r in zip(posts, results, strict=True) for m in told(post.client, r))
    assert messages.count("採点を保存しました。") == 1 and len(messages) == 3, messages
    assert all(m == "採点を保存しました。" or m == "この受験は既に採点済みです。" for m in messages), messages
    (graded,) = _attempts(site, learner.enrolment_id)
    assert graded.needs_grading is False and graded.passed is not None
    with site.app.app_context():
        assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "assessment.answer_graded", AuditEvent.target_id == str(short))) == 1


def test_a_survey_sent_twice_at_once_is_answered_once(site: Site) -> None:
    learner = _learner(site)
    path = f"/enrolments/{learner.enrolment_id}/survey"
    with site.app.app_context():
        from app.enrollment.models import Enrolment

        survey = ensure_survey(db_session.get(Enrolment, learner.enrolment_id).course)
        db_session.commit()
        ratings = {f"q{q.position}": "4" for q in survey.questions if q.kind.value == "scale"}
        survey_id = survey.id
    browsers = [site.browser(learner.login) for _ in range(3)]

    results = post_at_once([Post(b, path, {**ratings, "csrf_token": b.csrf_token(path)}) for b in browsers])

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert messages == sorted(["アンケートへのご回答ありがとうございました。"]
                              + ["このアンケートには既に回答済みです。ありがとうございました。"] * 2), messages
    with site.app.app_context():
        assert db_session.scalar(select(func.count()).select_from(SurveyReceipt).where(
            SurveyReceipt.enrolment_id == learner.enrolment_id)) == 1
        assert db_session.scalar(select(func.count()).select_from(PendingSurveyResponse).where(
            PendingSurveyResponse.survey_id == survey_id)) == 1  # waiting for four more of the session
        assert db_session.scalar(select(func.count()).select_from(SurveyResponse).where(
            SurveyResponse.survey_id == survey_id)) == 0
