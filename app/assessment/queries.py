"""Reads of the assessment domain: for its own pages, and what other pages compose (the
enrolment page)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from app.assessment import quizzes, surveys
from app.assessment.models import Question, Quiz, QuizAttempt, Survey, SurveyReceipt
from app.catalog.models import Course
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee
from app.permissions import can_see_survey_answered, gradable_attempt_filter
from app.scheduling.models import Meeting, TrainingSession


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


# --- the home page: what waits, a few of each with how many (one statement each) --------------


def _confirmed_places(employee_id: int) -> Any:
    """The person's confirmed places with their sessions and courses (joined, for one statement)."""
    return (select(Enrolment, func.count().over().label("total"))
            .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
            .join(Course, Enrolment.course_id == Course.id)
            .where(Enrolment.employee_id == employee_id, Enrolment.state == EnrolmentState.CONFIRMED)
            .options(contains_eager(Enrolment.training_session), contains_eager(Enrolment.course)))


def quizzes_waiting_for(employee_id: int, at: datetime, limit: int) -> tuple[list[Enrolment], int]:
    """Quizzes the person can take now and has still to pass: a confirmed place in a course with a
    pass mark and a quiz, the quiz open (`quizzes.quiz_opens_at`), not passed, no attempt waiting
    for a grader, an attempt left. The first `limit`, the longest open first, and how many."""
    attempts = select(QuizAttempt.id).where(QuizAttempt.enrolment_id == Enrolment.id, QuizAttempt.quiz_id == Quiz.id)
    last_meeting = select(func.max(Meeting.starts_at)).where(Meeting.session_id == Enrolment.session_id)
    opens_at = func.coalesce(last_meeting.scalar_subquery(), Enrolment.requested_at)
    used = (select(func.count(QuizAttempt.id))
            .where(QuizAttempt.enrolment_id == Enrolment.id, QuizAttempt.quiz_id == Quiz.id).scalar_subquery())
    rows = db_session.execute(
        _confirmed_places(employee_id).join(Quiz, Quiz.course_id == Enrolment.course_id)
        .where(Course.quiz_pass_mark.is_not(None),
               Quiz.opens_after_session.is_(False) | (opens_at <= at),
               ~attempts.where(QuizAttempt.passed.is_(True)).exists(),
               ~attempts.where(QuizAttempt.submitted_at.is_not(None), QuizAttempt.passed.is_(None)).exists(),
               used < Quiz.attempts_allowed)
        .order_by(TrainingSession.ends_at, Enrolment.id).limit(limit)).unique().all()
    return [row.Enrolment for row in rows], (rows[0].total if rows else 0)


def surveys_waiting_for(employee_id: int, at: datetime, limit: int) -> tuple[list[Enrolment], int]:
    """Required surveys the person has still to answer: a confirmed place in a session that has
    begun (the survey opens at its start), of a course whose completion asks for the survey, with
    no receipt. The first `limit`, the oldest session first, and how many."""
    answered = (select(SurveyReceipt.id).join(Survey, SurveyReceipt.survey_id == Survey.id)
                .where(Survey.course_id == Enrolment.course_id, SurveyReceipt.enrolment_id == Enrolment.id))
    rows = db_session.execute(
        _confirmed_places(employee_id)
        .where(Course.survey_required.is_(True), TrainingSession.starts_at <= at, ~answered.exists())
        .order_by(TrainingSession.starts_at, Enrolment.id).limit(limit)).unique().all()
    return [row.Enrolment for row in rows], (rows[0].total if rows else 0)


@dataclass(frozen=True)
class AttemptToGrade:
    attempt_id: int
    submitted_at: datetime
    employee_name: str
    course: Course


def attempts_to_grade_for(grader: Employee, limit: int) -> tuple[list[AttemptToGrade], int]:
    """Submitted attempts with short answers waiting, that `grader` may grade
    (`permissions.gradable_attempt_filter`), the oldest first, with the person's name and the
    course: the first `limit` and how many (one statement)."""
    rows = db_session.execute(
        select(QuizAttempt.id, QuizAttempt.submitted_at, Employee.name, Course, func.count().over().label("total"))
        .join(Employee, QuizAttempt.employee_id == Employee.id)
        .join(Quiz, QuizAttempt.quiz_id == Quiz.id).join(Course, Quiz.course_id == Course.id)
        .where(QuizAttempt.needs_grading.is_(True), QuizAttempt.submitted_at.is_not(None),
               gradable_attempt_filter(grader))
        .order_by(QuizAttempt.submitted_at, QuizAttempt.id).limit(limit)).all()
    return ([AttemptToGrade(row.id, row.submitted_at, row.name, row.Course) for row in rows],
            rows[0].total if rows else 0)
