"""Courses with e-learning modules for the tests of app/elearning: made through the course file
format (a modules section checked by app/catalog/module_files.py), as an author would write them."""
from __future__ import annotations

from typing import Any

from app.assessment.quizzes import materialize_quiz
from app.catalog.models import Course
from app.catalog.module_files import check_modules
from app.core.db import db_session
from tests import factories

QUIZ = {
    "pass_mark": 50, "attempts_allowed": 2, "shuffle": False, "show_answers": True,
    "questions": [
        {"type": "single", "text": "不審なメールの添付ファイルはどうしますか。",
         "choices": ["すぐ開く", "開かずに確認する"], "answer": 1, "points": 1},
        {"type": "true_false", "text": "パスワードを付箋に書いて貼ってよい。", "answer": False, "points": 1},
    ],
}


def module(key: str = "main", pages: int = 3, *, quiz: bool = False, before_session: bool = False,
           body: str = "本文です。") -> dict[str, Any]:
    raw: dict[str, Any] = {"key": key, "title": {"ja": f"単元 {key}", "en": f"Module {key}"},
                           "pages": [{"title": f"第{n}ページ", "body": f"{body}（{n}）"} for n in range(1, pages + 1)]}
    if quiz:
        raw["quiz"] = True
    if before_session:
        raw["before_session"] = True
    return raw


def elearning_course(*modules: dict[str, Any], quiz: dict[str, Any] | None = None, code: str | None = None,
                     delivery_format: str = "elearning") -> Course:
    """A published course whose modules are `modules` (checked as a course file's section), with
    the quiz section `quiz` (materialised as its quiz row) when given."""
    checked, problems = check_modules(list(modules), kind="course", has_quiz=quiz is not None, survey_required=False)
    assert not problems, problems
    course = factories.course(code, delivery_format=delivery_format, min_attendance=0,
                              quiz_pass_mark=quiz["pass_mark"] if quiz else None)
    course.modules_spec = checked
    course.quiz_spec = quiz
    if quiz is not None:
        materialize_quiz(course)
    db_session.commit()
    return course
