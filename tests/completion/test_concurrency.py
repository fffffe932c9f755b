"""Completion at once under races, through the real web stack, on SQLite and PostgreSQL: when the
last two inputs arrive at the same moment from two people (the learner answers the survey while
the instructor grades the quiz; two instructors save the rosters of two meetings), each request
evaluates the enrolment, and exactly one certificate is issued: not two (the unique cycle is the
last word) and not none (each evaluation locks the enrolment, so the later one sees the earlier
one's input; without it, on PostgreSQL each would see only its own and both would record nothing).

Like tests/assessment/test_concurrency.py this serves a freshly migrated database of its own with
real commits; each test makes its own course and people."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.assessment.models import Answer, QuestionType, QuizAttempt, SurveyQuestionKind
from app.assessment.quizzes import materialize_quiz, start_or_resume, submit
from app.assessment.surveys import ensure_survey
from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.completion.models import Completion
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import RoleName
from app.scheduling.models import Meeting, TrainingSession
from tests import factories
from tests.live_site import Site, served_site
from tests.racing import Post, assert_all_redirected, post_at_once, told

QUIZ = {"pass_mark": 50, "attempts_allowed": 2, "questions": [
    {"type": "single", "text": "一つ選ぶ問題", "choices": ["甲", "乙"], "answer": 1, "points": 1},
    {"type": "short", "text": "記述問題", "answer": "模範解答", "points": 2},
]}
LEARNERS = 3  # pairs of racers per test: more chances for the two to interleave


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with served_site(make_database_url, tmp_path_factory, "completion") as served:
        yield served


@pytest.fixture(autouse=True)
def _fresh_errors(site: Site) -> None:
    site.errors.clear()


def _move_meetings(session: TrainingSession, starts: list[timedelta]) -> None:
    """Move the session's meetings to start at now + each offset (three hours each)."""
    current = now()
    for meeting, offset in zip(sorted(session.meetings, key=lambda m: m.starts_at), starts, strict=True):
        db_session.execute(update(Meeting).where(Meeting.id == meeting.id).values(
            starts_at=current + offset, ends_at=current + offset + timedelta(hours=3)))
    db_session.execute(update(TrainingSession).where(TrainingSession.id == session.id).values(
        starts_at=current + min(starts), ends_at=current + max(starts) + timedelta(hours=3)))
    db_session.execute(update(Enrolment).where(Enrolment.session_id == session.id).values(
        confirmed_at=current + min(starts) - timedelta(days=1)))


def _completions(site: Site, enrolment_ids: list[int]) -> dict[int, int]:
    """Enrolment id → how many completions not revoked its person has of its course."""
    with site.app.app_context():
        counts = {}
        for enrolment_id in enrolment_ids:
            enrolment = db_session.get(Enrolment, enrolment_id)
            counts[enrolment_id] = db_session.scalar(select(func.count()).select_from(Completion).where(
                Completion.employee_id == enrolment.employee_id, Completion.course_id == enrolment.course_id,
                Completion.revoked_at.is_(None)))
        return counts


@dataclass
class Waiting:
    login: str
    enrolment_id: int
    attempt_id: int
    short_answer_id: int


def test_the_survey_answered_while_the_quiz_is_graded_completes_once(site: Site) -> None:
    """Attendance is in; the quiz waits for the instructor's points on the written answer and the
    survey for the learner: both arrive at once."""
    with site.app.app_context():
        course = factories.course(min_attendance=100, quiz_pass_mark=50, survey_required=True)
        course.quiz_spec = QUIZ
        quiz = materialize_quiz(course)
        assert quiz is not None
        instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
        session = factories.training_session(course, starts_in=timedelta(days=3), capacity=LEARNERS,
                                             instructors=[instructor])
        people = [factories.employee() for _ in range(LEARNERS)]
        enrolments = [factories.enrolment(person, session) for person in people]
        _move_meetings(session, [-timedelta(minutes=30)])  # under way: the quiz and survey are open
        db_session.commit()
        survey = ensure_survey(course)
        ratings = {f"q{q.position}": "4" for q in survey.questions if q.kind == SurveyQuestionKind.SCALE}
        waiting = []
        for person, enrolment in zip(people, enrolments, strict=True):
            db_session.refresh(enrolment)
            set_mark(instructor, enrolment, session.meetings[0], AttendanceStatus.PRESENT)
            questions = {q.type: q for q in quiz.questions}
            attempt = start_or_resume(person, enrolment, quiz)
            submit(attempt, {questions[QuestionType.SINGLE].id: "1", questions[QuestionType.SHORT].id: "回答"})
            assert attempt.passed is None  # 1 of 3 points: the written answer decides
            short = next(a for a in attempt.answers if a.question_id == questions[QuestionType.SHORT].id)
            waiting.append(Waiting(person.employee_number, enrolment.id, attempt.id, short.id))
        db_session.commit()
        instructor_login = instructor.employee_number
    assert _completions(site, [w.enrolment_id for w in waiting]) == {w.enrolment_id: 0 for w in waiting}

    posts = []
    for item in waiting:
        learner, grader = site.browser(item.login), site.browser(instructor_login)
        survey_path, grading_path = f"/enrolments/{item.enrolment_id}/survey", f"/grading/attempts/{item.attempt_id}"
        posts.append(Post(learner, survey_path, {**ratings, "csrf_token": learner.csrf_token(survey_path)}))
        posts.append(Post(grader, grading_path, {
            f"points-{item.short_answer_id}": "2", f"was-{item.short_answer_id}": "",
            f"comment-{item.short_answer_id}": "具体的です", "csrf_token": grader.csrf_token(grading_path)}))

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    messages = [m for post, r in zip(posts, results, strict=True) for m in told(post.client, r)]
    told_each = ["アンケートへのご回答ありがとうございました。", "採点を保存しました。"]
    assert sorted(messages) == sorted(told_each * LEARNERS), messages
    assert _completions(site, [w.enrolment_id for w in waiting]) == {w.enrolment_id: 1 for w in waiting}
    with site.app.app_context():
        assert all(db_session.get(QuizAttempt, w.attempt_id).passed is True for w in waiting)
        assert all(db_session.get(Answer, w.short_answer_id).points_awarded == 2 for w in waiting)


def test_the_rosters_of_two_meetings_saved_at_once_complete_once(site: Site) -> None:
    """Full attendance over two meetings already held; nothing is marked yet. The instructor saves
    the first meeting's roster while HR saves the second's, each the other's missing half."""
    with site.app.app_context():
        instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
        session = factories.training_session(factories.course(min_attendance=100), starts_in=timedelta(days=3),
                                             meetings=2, capacity=LEARNERS, instructors=[instructor])
        people = [factories.employee() for _ in range(LEARNERS)]
        enrolment_ids = [factories.enrolment(person, session).id for person in people]
        _move_meetings(session, [-timedelta(days=8), -timedelta(days=1)])
        db_session.commit()
        first, second = sorted(db_session.scalars(select(Meeting).where(Meeting.session_id == session.id)),
                               key=lambda m: m.starts_at)
        instructor_login, meetings = instructor.employee_number, (first.id, second.id)
    marks = {f"status-{enrolment_id}": "present" for enrolment_id in enrolment_ids}
    posts = []
    for login, meeting_id in zip((instructor_login, site.hr_login), meetings, strict=True):
        browser = site.browser(login)
        path = f"/attendance/meetings/{meeting_id}"
        posts.append(Post(browser, path, {**marks, "csrf_token": browser.csrf_token(path)}))

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    messages = [m for post, r in zip(posts, results, strict=True) for m in told(post.client, r)]
    assert messages == [f"出欠を保存しました（変更 {LEARNERS} 件）。"] * 2, messages
    assert _completions(site, enrolment_ids) == dict.fromkeys(enrolment_ids, 1)
