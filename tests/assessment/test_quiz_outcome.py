"""The outcome of an attempt with written answers waiting for a grader. Written answers only add
points, so the outcome is decided as soon as it cannot change: the points already scored reach
the pass mark (passed), or full points on every waiting answer would not (not passed). Only an
attempt whose outcome hangs on its waiting answers shows 採点待ち; a 75 % result against a pass
mark of 70 % is a pass at once, with no "try again" beside it (the bug this fixes)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.assessment.models import Answer, QuestionType, Quiz, QuizAttempt
from app.assessment.quizzes import grade_answer, materialize_quiz, quiz_passed, start_or_resume, submit
from app.assessment.transitions import outcome
from app.completion.services import check_rule, valid_completion
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee, RoleName
from tests import factories

# Six points answered automatically and a written answer worth two (as DX-KACHO-2020's quiz).
SPEC = {"attempts_allowed": 2, "questions": [
    {"type": "single", "text": "一つ選ぶ問題", "choices": ["甲", "乙", "丙"], "answer": 1, "points": 2},
    {"type": "multiple", "text": "すべて選ぶ問題", "choices": ["A", "B", "C"], "answer": [0, 2], "points": 2},
    {"type": "true_false", "text": "正誤問題", "answer": False, "points": 2},
    {"type": "short", "text": "記述問題", "answer": "模範解答", "points": 2},
]}
RIGHT = {QuestionType.SINGLE: "1", QuestionType.MULTIPLE: ["0", "2"], QuestionType.TRUE_FALSE: "false"}
WRONG = {QuestionType.SINGLE: "0", QuestionType.MULTIPLE: ["1"], QuestionType.TRUE_FALSE: "true"}


@pytest.mark.parametrize(("percent", "best", "pass_mark", "expected"), [
    (75, 100, 70, True),  # already at the pass mark: the written answer cannot take it away
    (70, 100, 70, True),
    (25, 50, 70, False),  # even full points on the written answer stay below it
    (69, 69, 70, False),  # nothing waits: the score decides
    (62, 87, 70, None),  # the written answer decides
    (0, 70, 70, None),
])
def test_the_outcome_is_decided_once_it_cannot_change(percent, best, pass_mark, expected):
    assert outcome(percent, best, pass_mark) is expected


def learner(app, pass_mark: int):  # type: ignore[no-untyped-def]
    """(person, enrolment id, instructor, quiz) on a course with SPEC and `pass_mark`."""
    with app.app_context():
        course = factories.course(quiz_pass_mark=pass_mark)
        course.quiz_spec = {**SPEC, "pass_mark": pass_mark}
        quiz = materialize_quiz(course)
        assert quiz is not None
        db_session.commit()
        instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
        person = factories.employee(name="受講 次郎")
        enrolment = factories.enrolment(person, factories.training_session(course, instructors=[instructor]))
        opens = max(m.starts_at for m in enrolment.training_session.meetings) + timedelta(minutes=5)
        return person, enrolment.id, instructor, quiz.id, opens


def submitted(app, person, enrolment_id: int, quiz_id: int, answers: dict, short: str):  # type: ignore[no-untyped-def,type-arg]
    with app.app_context():
        quiz = db_session.get(Quiz, quiz_id)
        enrolment = db_session.get(Enrolment, enrolment_id)
        questions = {q.type: q for q in quiz.questions}
        attempt = start_or_resume(person, enrolment, quiz)
        submit(attempt, {questions[kind].id: value for kind, value in answers.items()}
               | {questions[QuestionType.SHORT].id: short})
        db_session.commit()
        return attempt.id


def result_page(client, enrolment_id: int) -> str:  # type: ignore[no-untyped-def]
    return client.get(f"/enrolments/{enrolment_id}/quiz/result").get_data(as_text=True)


def badges(page: str) -> list[str]:
    return re.findall(r'<span class="badge badge--\w+">([^<]+)</span>', page)


def test_a_75_percent_result_against_a_pass_mark_of_70_is_a_pass_at_once(app, client):
    person, enrolment_id, instructor, quiz_id, opens = learner(app, pass_mark=70)
    with time_machine.travel(opens, tick=False):
        attempt_id = submitted(app, person, enrolment_id, quiz_id, RIGHT, "帳票の電子化から始める")
        factories.login_as(client, person)
        page = result_page(client, enrolment_id)
        assert "合格" in badges(page) and "記述式の採点待ち" not in badges(page)
        assert "8点中6点（75%）、合格点 70%" in page
        assert "合否はすでに確定しています" in page
        assert "もう一度受ける" not in page and "テストを受ける" not in page
        with app.app_context():
            attempt = db_session.get(QuizAttempt, attempt_id)
            assert attempt.passed is True and attempt.needs_grading is True
            assert quiz_passed(enrolment_id, quiz_id)

        # The written answer is still graded, for the record and the learner's feedback: the
        # outcome stays, the score is completed.
        grader = app.test_client()
        factories.login_as(grader, instructor)
        assert f'href="/grading/attempts/{attempt_id}"' in grader.get("/grading").get_data(as_text=True)
        with app.app_context():
            short_id = db_session.scalar(select(Answer.id).where(Answer.attempt_id == attempt_id,
                                                                 Answer.points_awarded.is_(None)))
        response = factories.post(grader, f"/grading/attempts/{attempt_id}",
                                  {f"points-{short_id}": "0", f"comment-{short_id}": "もう少し具体的に"},
                                  form_page=f"/grading/attempts/{attempt_id}")
        assert response.status_code == 302 and response.headers["Location"] == "/grading"
        assert f'href="/grading/attempts/{attempt_id}"' not in grader.get("/grading").get_data(as_text=True)
        page = result_page(client, enrolment_id)
        assert "合格" in badges(page) and "合否はすでに確定しています" not in page
    with app.app_context():
        attempt = db_session.get(QuizAttempt, attempt_id)
        assert (attempt.passed, attempt.needs_grading, attempt.score, attempt.percent) == (True, False, 6, 75)


def test_a_result_no_written_answer_can_lift_is_not_passed_at_once_and_may_be_taken_again(app, client):
    person, enrolment_id, _instructor, quiz_id, opens = learner(app, pass_mark=70)
    with time_machine.travel(opens, tick=False):
        attempt_id = submitted(app, person, enrolment_id, quiz_id, WRONG | {QuestionType.SINGLE: "1"}, "回答")
        factories.login_as(client, person)
        page = result_page(client, enrolment_id)  # 2 of 8 now, at best 4 of 8: 50 %
        assert "不合格" in badges(page) and "記述式の採点待ち" not in badges(page)
        assert "8点中2点（25%）、合格点 70%" in page and "もう一度受ける" in page
    with app.app_context():
        attempt = db_session.get(QuizAttempt, attempt_id)
        assert attempt.passed is False and attempt.needs_grading is True


def test_only_a_result_the_written_answer_decides_waits_for_grading(app, client):
    person, enrolment_id, instructor, quiz_id, opens = learner(app, pass_mark=80)
    with time_machine.travel(opens, tick=False):
        attempt_id = submitted(app, person, enrolment_id, quiz_id, RIGHT, "回答")
        factories.login_as(client, person)
        page = result_page(client, enrolment_id)  # 75 % now, 100 % at best: the grader decides
        assert badges(page)[:1] == ["記述式の採点待ち"] and "合格" not in badges(page)
        assert "8点中6点（75%）、合格点 80%" in page
        with app.app_context():
            answer = db_session.scalar(select(Answer).where(Answer.attempt_id == attempt_id,
                                                            Answer.points_awarded.is_(None)))
            grade_answer(db_session.get(Employee, instructor.id), answer, 1)
            db_session.commit()
        page = result_page(client, enrolment_id)  # 7 of 8: 87 %
        assert "合格" in badges(page) and "8点中7点（87%）" in page


def test_a_pass_decided_early_completes_the_course_without_waiting_for_the_grader(ctx):
    course = factories.course(quiz_pass_mark=70, min_attendance=0)
    course.quiz_spec = {**SPEC, "pass_mark": 70}
    quiz = materialize_quiz(course)
    assert quiz is not None
    person = factories.employee()
    enrolment = factories.enrolment(person, factories.training_session(course))
    with time_machine.travel(max(m.starts_at for m in enrolment.training_session.meetings)
                             + timedelta(minutes=5), tick=False):
        questions = {q.type: q for q in quiz.questions}
        attempt = start_or_resume(person, enrolment, quiz)
        submit(attempt, {questions[kind].id: value for kind, value in RIGHT.items()}
               | {questions[QuestionType.SHORT].id: "回答"})
        assert check_rule(enrolment).quiz_ok
        assert valid_completion(person.id, course.id) is not None
