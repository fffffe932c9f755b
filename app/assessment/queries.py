"""Reads of the assessment domain that other pages compose (the enrolment page)."""
from __future__ import annotations

from typing import Any

from app.assessment import quizzes, surveys
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
