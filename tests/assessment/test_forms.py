"""The assessment pages' forms (app/assessment/forms.py) through real requests, CSRF on: a refused
POST answers 400 with an error next to the field that names it and says why, and changes nothing;
someone else's enrolment is not found, whatever is posted to it."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from app.assessment.models import (
    PendingSurveyResponse,
    QuestionType,
    QuizAttempt,
    Survey,
    SurveyReceipt,
)
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.assessment.test_quizzes import (
    after_last_meeting_start,
    attempts_in_db,
    learner_of,
    quiz_course,
    start,
    submitted_short_answer,
)
from tests.db_snapshot import changed_tables, snapshot
from tests.form_pages import BIDI, BIDI_SAID, CONTROL, CONTROL_SAID, field_errors


def count(model: type) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def quiz_site(app: Flask) -> dict[str, Any]:
    """A learner of a session (taught by an instructor) of a course with the four-question quiz."""
    with app.app_context():
        instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
        course, quiz = quiz_course()
        person, enrolment = learner_of(course, instructors=[instructor], name="受講 花子")
        return {"person": person, "instructor": instructor, "enrolment": enrolment.id, "quiz": quiz.id,
                "questions": {q.type: q.id for q in quiz.questions},
                "opens": after_last_meeting_start(enrolment, timedelta(0))}


@pytest.fixture
def survey_site(app: Flask) -> dict[str, Any]:
    """A learner of a session that has started, of a course whose survey nobody has answered."""
    with app.app_context():
        course = factories.course(survey_required=True)
        training_session = factories.training_session(course)
        person = factories.employee()
        enrolment = factories.enrolment(person, training_session)
        return {"person": person, "enrolment": enrolment.id, "after": training_session.starts_at + timedelta(hours=1)}


# --- answering a quiz ------------------------------------------------------------------------


def test_a_written_answer_with_a_bidi_control_is_refused_and_the_attempt_stays_open(app, client, quiz_site):
    q = quiz_site["questions"]
    url = f"/enrolments/{quiz_site['enrolment']}/quiz"
    with time_machine.travel(quiz_site["opens"] + timedelta(minutes=5), tick=False):
        factories.login_as(client, quiz_site["person"])
        token = start(client, url)
        response = client.post(url, data={"csrf_token": token, "action": "submit", f"q{q[QuestionType.SINGLE]}": "1",
                                          f"q{q[QuestionType.MULTIPLE]}": ["0", "2"],
                                          f"q{q[QuestionType.SHORT]}": f"集計を{BIDI}自動化する"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    short = q[QuestionType.SHORT]
    assert field_errors(page) == {f"q{short}": f"記述問題: {BIDI_SAID}"}  # the question, as the page asks it
    assert f'aria-describedby="q{short}-error"' in page
    # what was chosen and written comes back, to be corrected rather than done again
    assert re.search(rf'name="q{q[QuestionType.SINGLE]}" value="1" checked', page)
    assert re.search(rf'name="q{q[QuestionType.MULTIPLE]}" value="2" checked', page)
    assert "集計を" in page
    (attempt,) = attempts_in_db(app, quiz_site["enrolment"])
    assert attempt.submitted_at is None and attempt.answers == []  # neither submitted nor saved


# --- grading -----------------------------------------------------------------------------------


def test_points_that_are_not_a_number_and_a_comment_with_a_control_character_grade_nothing(app, client, quiz_site):
    with time_machine.travel(quiz_site["opens"] + timedelta(minutes=5), tick=False):
        attempt_id, answer_id = submitted_short_answer(app, quiz_site)
        factories.login_as(client, quiz_site["instructor"])
        path = f"/grading/attempts/{attempt_id}"
        response = factories.post(client, path, {f"points-{answer_id}": "２点", f"was-{answer_id}": "",
                                                 f"comment-{answer_id}": f"具体的{CONTROL}"}, form_page=path)
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True)) == {
        f"points-{answer_id}": "点数（0〜2）: 点数は整数で入力してください。",
        f"comment-{answer_id}": f"コメント: {CONTROL_SAID}",
    }
    with app.app_context():
        attempt = db_session.get(QuizAttempt, attempt_id)
        assert attempt.needs_grading is True and attempt.passed is None
        assert [a.points_awarded for a in attempt.answers if a.id == answer_id] == [None]


# --- answering a survey ------------------------------------------------------------------------


def test_a_survey_comment_with_a_bidi_control_is_refused_and_nothing_is_recorded(app, client, survey_site):
    path = f"/enrolments/{survey_site['enrolment']}/survey"
    with time_machine.travel(survey_site["after"], tick=False):
        factories.login_as(client, survey_site["person"])
        fields = {"q1": "4", "q2": "5", "q3": "3", "q4": "4", "q5": f"演習が{BIDI}良かった"}
        response = factories.post(client, path, fields, form_page=path)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page) == {"q5": f"良かった点: {BIDI_SAID}"}
    assert 'name="q2" value="5" checked' in page  # the ratings given are kept
    with app.app_context():
        assert (count(Survey), count(SurveyReceipt), count(PendingSurveyResponse)) == (0, 0, 0)


# --- own enrolment against another's -----------------------------------------------------------


def test_someone_elses_quiz_and_survey_are_not_found_and_posting_to_them_changes_nothing(app, quiz_site):
    enrolment = quiz_site["enrolment"]
    q = quiz_site["questions"]
    with app.app_context():
        other = factories.employee()
    with time_machine.travel(quiz_site["opens"] + timedelta(minutes=5), tick=False):
        owner = app.test_client()
        factories.login_as(owner, quiz_site["person"])
        assert owner.get(f"/enrolments/{enrolment}/quiz").status_code == 200  # their own: the start page
        intruder = app.test_client()
        factories.login_as(intruder, other)
        with app.app_context():
            before = snapshot()
        for path in (f"/enrolments/{enrolment}/quiz", f"/enrolments/{enrolment}/quiz/result",
                     f"/enrolments/{enrolment}/survey"):
            assert intruder.get(path).status_code == 404, path
        posts = {f"/enrolments/{enrolment}/quiz/start": {},
                 f"/enrolments/{enrolment}/quiz": {"action": "submit", f"q{q[QuestionType.SINGLE]}": "1"},
                 f"/enrolments/{enrolment}/survey": {"q1": "1", "q2": "1", "q3": "1", "q4": "1"}}
        for path, data in posts.items():
            assert factories.post(intruder, path, data).status_code == 404, path
        with app.app_context():
            assert changed_tables(before, snapshot()) == []
    assert attempts_in_db(app, enrolment) == []
