"""Post-course surveys. Anonymous surveys keep the fact of answering (a receipt, for completion)
apart from the answers, with nothing that links the two. Answering is a move of
app/assessment/transitions.py (once per enrolment, whatever a double click does)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.assessment import transitions
from app.assessment.models import Survey, SurveyQuestion, SurveyQuestionKind, SurveyReceipt, SurveyResponse
from app.assessment.transitions import SurveyAlreadyAnswered, SurveyError
from app.catalog.models import Course
from app.clock import now, today
from app.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee

DEFAULT_QUESTIONS = (
    (SurveyQuestionKind.SCALE, "研修全体の満足度", "Overall satisfaction"),
    (SurveyQuestionKind.SCALE, "内容の理解度", "How well you understood the content"),
    (SurveyQuestionKind.SCALE, "業務に活かせる度合い", "How useful it is for your work"),
    (SurveyQuestionKind.SCALE, "講師の説明のわかりやすさ", "Clarity of the instructor"),
    (SurveyQuestionKind.TEXT, "良かった点", "What worked well"),
    (SurveyQuestionKind.TEXT, "改善してほしい点", "What could be improved"),
)


def ensure_survey(course: Course) -> Survey:
    survey = db_session.scalar(select(Survey).where(Survey.course_id == course.id))
    if survey is None:
        survey = Survey(course_id=course.id, is_anonymous=True)
        survey.questions = [SurveyQuestion(position=i, kind=k, text_ja=ja, text_en=en)
                            for i, (k, ja, en) in enumerate(DEFAULT_QUESTIONS, start=1)]
        db_session.add(survey)
        db_session.flush()
    return survey


def has_answered(survey_id: int, enrolment_id: int) -> bool:
    return db_session.scalar(select(SurveyReceipt.id).where(SurveyReceipt.survey_id == survey_id,
                                                            SurveyReceipt.enrolment_id == enrolment_id)) is not None


def answer(employee: Employee, enrolment: Enrolment, survey: Survey, raw: dict[str, str]) -> None:
    if enrolment.employee_id != employee.id or enrolment.state != EnrolmentState.CONFIRMED:
        raise SurveyError(_("Only confirmed participants can answer this survey."))
    if enrolment.training_session.starts_at > now():
        raise SurveyError(_("The survey opens when the session starts."))
    if has_answered(survey.id, enrolment.id):
        raise SurveyAlreadyAnswered(_("You have already answered this survey. Thank you."))
    answers: dict[str, Any] = {}
    problems = []
    for question in survey.questions:
        value = (raw.get(f"q{question.id}") or "").strip()
        if question.kind == SurveyQuestionKind.SCALE:
            if value not in {"1", "2", "3", "4", "5"}:
                problems.append(question.text_ja)
                continue
            answers[str(question.id)] = int(value)
        elif value:
            answers[str(question.id)] = value[:2000]
    if problems:
        raise SurveyError(_("Choose a rating for: %(questions)s", questions="、".join(problems)))
    transitions.record_survey_answer(
        SurveyReceipt(survey_id=survey.id, enrolment_id=enrolment.id, answered_on=today()),
        SurveyResponse(id=secrets.token_hex(16), survey_id=survey.id, session_id=enrolment.session_id,
                       employee_id=None if survey.is_anonymous else employee.id, answered_on=today(),
                       answers=answers))


@dataclass
class QuestionResult:
    question: SurveyQuestion
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # ratings 1..5
    texts: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def mean(self) -> float | None:
        return None if not self.total else sum((i + 1) * c for i, c in enumerate(self.counts)) / self.total


@dataclass
class SurveyResults:
    responses: int
    invited: int
    questions: list[QuestionResult]

    @property
    def response_rate(self) -> int | None:
        return None if not self.invited else round(100 * self.responses / self.invited)


def results(survey: Survey, session_id: int | None = None) -> SurveyResults:
    stmt = select(SurveyResponse.answers).where(SurveyResponse.survey_id == survey.id)
    invited_stmt = select(func.count()).select_from(Enrolment).where(
        Enrolment.course_id == survey.course_id, Enrolment.state == EnrolmentState.CONFIRMED)
    if session_id is not None:
        stmt = stmt.where(SurveyResponse.session_id == session_id)
        invited_stmt = invited_stmt.where(Enrolment.session_id == session_id)
    per_question = {q.id: QuestionResult(q) for q in survey.questions}
    count = 0
    for (answers,) in db_session.execute(stmt):
        count += 1
        for key, value in answers.items():
            result = per_question.get(int(key))
            if result is None:
                continue
            if result.question.kind == SurveyQuestionKind.SCALE and isinstance(value, int) and 1 <= value <= 5:
                result.counts[value - 1] += 1
            elif isinstance(value, str):
                result.texts.append(value)
    return SurveyResults(count, db_session.scalar(invited_stmt) or 0, list(per_question.values()))
