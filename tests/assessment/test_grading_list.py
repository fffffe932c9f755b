"""The grading list names whose attempt each line is and of which course, in a fixed number of
statements however many attempts wait."""
from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from flask import Flask
from flask.testing import FlaskClient

from app.assessment.models import QuestionType
from app.assessment.quizzes import materialize_quiz, start_or_resume, submit
from app.core.db import db_session
from app.org.models import Employee, RoleName
from tests import factories
from tests.querycount import count_statements

SPEC = {"pass_mark": 50, "questions": [
    {"type": "single", "text": "一つ選ぶ問題", "choices": ["甲", "乙"], "answer": 1, "points": 1},
    {"type": "short", "text": "記述問題", "answer": "模範解答", "points": 2},
]}
_ROW = re.compile(r'<tr><td><a href="/grading/attempts/(\d+)">([^<]+)</a></td>\s*<td>([^<]+)</td>')


def waiting_attempts(app: Flask, instructor_id: int, how_many: int, first: int = 0) -> None:
    """`how_many` learners of the instructor's session, each with a written answer to grade."""
    with app.app_context():
        instructor = db_session.get(Employee, instructor_id)
        for n in range(first, first + how_many):
            course = factories.course(title_ja=f"採点研修{n}", quiz_pass_mark=50)
            course.quiz_spec = SPEC
            quiz = materialize_quiz(course)
            assert quiz is not None
            person = factories.employee(name=f"受講 {n}号")
            enrolment = factories.enrolment(person, factories.training_session(course, instructors=[instructor]))
            opens = max(m.starts_at for m in enrolment.training_session.meetings) + timedelta(minutes=5)
            with time_machine.travel(opens, tick=False):
                questions = {q.type: q for q in quiz.questions}
                attempt = start_or_resume(person, enrolment, quiz)
                submit(attempt, {questions[QuestionType.SINGLE].id: "0", questions[QuestionType.SHORT].id: "回答"})
            db_session.commit()


def test_the_grading_list_names_the_person_and_the_course_in_constant_statements(app: Flask,
                                                                                 client: FlaskClient) -> None:
    with app.app_context():
        instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
    waiting_attempts(app, instructor.id, 1)
    factories.login_as(client, instructor)
    client.get("/grading")
    with count_statements(app) as one:
        page = client.get("/grading").get_data(as_text=True)
    assert [(name, course) for _id, name, course in _ROW.findall(page)] == [("受講 0号", "採点研修0")]
    assert "#" not in "".join(name for _id, name, _course in _ROW.findall(page))

    waiting_attempts(app, instructor.id, 6, first=1)
    with count_statements(app) as seven:
        page = client.get("/grading").get_data(as_text=True)
    rows = _ROW.findall(page)
    assert [name for _id, name, _course in rows] == [f"受講 {n}号" for n in range(7)]  # the oldest first
    assert [course for _id, _name, course in rows] == [f"採点研修{n}" for n in range(7)]
    assert seven.count == one.count, seven.statements
    # the signed-in user (with roles) and the attempts with their people and courses
    assert seven.count <= 5, seven.statements
