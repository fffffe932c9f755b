"""Reads of the assessment domain: for its own pages, and what other pages compose (the
enrolment page)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from app.assessment import quizzes, surveys
from app.assessment.models import Question
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee
from app.permissions import can_see_survey_answered


def quiz_summary(enrolment: Enrolment, viewer: Employee) -> dict[str, Any]:
    """For the enrolment page: what there is to do after the session. Whether an anonymous survey
    was answered is shown to the person alone (`survey_answered` None for anyone else)."""
    quiz = quizzes.quiz_for_course(enrolment.course_id)
    survey = surveys.survey_of_course(enrolment.course_id)
    is_anonymous = survey.is_anonymous if survey is not None else True
    answered = bool(survey and surveys.has_answered(survey.id, enrolment.id))
    return {
        "quiz": quiz,
        "quiz_passed": bool(quiz and quizzes.quiz_passed(enrolment.id, quiz.id)),
        "survey_answered": answered if can_see_survey_answered(viewer, enrolment.employee_id, is_anonymous)
        else None,
    }


def questions_by_id(ids: Iterable[int]) -> dict[int, Question]:
    """The questions with these ids (an attempt's `question_order`), by id; deleted ones are absent."""
    wanted = list(ids)
    if not wanted:
        return {}
    return {q.id: q for q in db_session.scalars(select(Question).where(Question.id.in_(wanted)))}
