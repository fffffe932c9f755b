"""Post-course surveys, anonymous by construction.

Who answered (a receipt per enrolment: completion needs it, and it refuses a second answer) and
what was answered (a response) are stored apart, and nothing in the database ties one to the
other. Answering is a move of app/assessment/transitions.py (once per enrolment, whatever a
double click does), where the pending → released state machine is drawn.

Threat model
------------
Defended: someone who reads the whole database at some moment (HR at a SQL console or with a
copy of a backup, a database administrator) and everything the application shows HR, and who
also knows who answered and roughly when (receipts, completions, asking around). They must not
learn what one person answered:

1. A new response goes to the pool of pending responses of its survey and session
   (`PendingSurveyResponse`). On every arrival that pool is deleted and written again in a random
   order with fresh random ids, so the physical order (rowid on SQLite, ctid on PostgreSQL), the
   ids and the inserting transaction (xmin: every pooled row of the session carries the latest
   arrival's) say nothing about which pooled row came when.
2. Once k responses of a session are pending (k = SURVEY_MIN_RESPONDENTS, default 5, at least 2),
   they are released together into `SurveyResponse`, again in a random order with fresh random ids
   and one date for the whole batch (`released_on`), and leave the pool. No response carries a
   time or its own day; a batch corresponds to k receipts, never to one.
3. Every result (the results page and its session filter, the reports' satisfaction figures and
   their exports) is computed from released responses only, and only from cells — (survey,
   session, release day) — holding at least k responses. Every filter offered (course, session,
   period) is a union of whole cells, so any filter, any combination of filters, the difference
   of two of them and the difference of two visits on different days cover k people or more, or
   nobody. Free text is shown under the same rule, sorted (its order says nothing either).
4. No per-person "answered" mark of an anonymous survey is shown to anyone but the person
   (`permissions.can_see_survey_answered`).

Not defended: whoever watches the database change transaction by transaction, or the web server,
its logs or memory (they see answers arrive); recovering deleted rows from the database files
(SQLite's free pages, PostgreSQL's dead tuples before VACUUM). Two things stay visible by design:
- the fact of answering, where the course requires the survey for completion (the completion
  itself says so); the results page also shows how many of a session answered;
- the pool itself: fewer than k responses of a session, in clear text, never shown by any page.
  A database reader who knows that the pool of a session holds the answers given since its last
  release (by the session's latest respondents, known from the receipts) learns them as a group;
  with a single one pending, whose it is. Sealing the pool needs an encryption key kept outside
  the database (no encryption library is in the stack yet). A session with fewer than k
  respondents never shows its answers.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.assessment import transitions
from app.assessment.models import (
    PendingSurveyResponse,
    Survey,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyReceipt,
    SurveyResponse,
)
from app.assessment.transitions import SurveyAlreadyAnswered, SurveyError
from app.catalog.models import Course
from app.core.clock import now, today
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee
from app.web.locale import gettext as _

DEFAULT_QUESTIONS = (
    (SurveyQuestionKind.SCALE, "研修全体の満足度", "Overall satisfaction"),
    (SurveyQuestionKind.SCALE, "内容の理解度", "How well you understood the content"),
    (SurveyQuestionKind.SCALE, "業務に活かせる度合い", "How useful it is for your work"),
    (SurveyQuestionKind.SCALE, "講師の説明のわかりやすさ", "Clarity of the instructor"),
    (SurveyQuestionKind.TEXT, "良かった点", "What worked well"),
    (SurveyQuestionKind.TEXT, "改善してほしい点", "What could be improved"),
)


def min_respondents() -> int:
    """k: the fewest answers of one session released, or counted in any result, together."""
    return max(2, int(current_app.config.get("SURVEY_MIN_RESPONDENTS", 5)))


def _default_questions() -> list[SurveyQuestion]:
    return [SurveyQuestion(position=i, kind=k, text_ja=ja, text_en=en)
            for i, (k, ja, en) in enumerate(DEFAULT_QUESTIONS, start=1)]


def survey_of_course(course_id: int) -> Survey | None:
    """The course's survey, if anyone has answered it or HR has looked at it (reads only)."""
    return db_session.scalar(select(Survey).where(Survey.course_id == course_id))


def survey_to_show(course: Course) -> Survey:
    """The survey as the form shows it: the stored one, or (before the first answer creates it) an
    unsaved one with the default questions. Fields are named by position (`q1`…), never by id."""
    return survey_of_course(course.id) or Survey(course_id=course.id, is_anonymous=True, questions=_default_questions())


def ensure_survey(course: Course) -> Survey:
    """The course's survey, created with the default questions on first use (a write: POST only)."""
    survey = survey_of_course(course.id)
    if survey is None:
        survey = Survey(course_id=course.id, is_anonymous=True, questions=_default_questions())
        db_session.add(survey)
        db_session.flush()
    return survey


def has_answered(survey_id: int, enrolment_id: int) -> bool:
    return db_session.scalar(select(SurveyReceipt.id).where(SurveyReceipt.survey_id == survey_id,
                                                            SurveyReceipt.enrolment_id == enrolment_id)) is not None


def has_answered_course(course_id: int, enrolment_id: int) -> bool:
    """Whether this enrolment answered the course's survey (False while the survey does not exist)."""
    return db_session.scalar(select(SurveyReceipt.id).join(Survey, SurveyReceipt.survey_id == Survey.id).where(
        Survey.course_id == course_id, SurveyReceipt.enrolment_id == enrolment_id)) is not None


def answer(employee: Employee, enrolment: Enrolment, survey: Survey, raw: dict[str, str]) -> None:
    """Record an answer: the receipt at once, the response into its session's pending pool (and
    the pool released when it holds k). `raw` holds the form's fields, `q<position>`."""
    if enrolment.employee_id != employee.id or enrolment.state != EnrolmentState.CONFIRMED:
        raise SurveyError(_("Only confirmed participants can answer this survey."))
    if enrolment.training_session.starts_at > now():
        raise SurveyError(_("The survey opens when the session starts."))
    if has_answered(survey.id, enrolment.id):
        raise SurveyAlreadyAnswered(_("You have already answered this survey. Thank you."))
    answers: dict[str, Any] = {}
    problems = []
    for question in survey.questions:
        value = (raw.get(f"q{question.position}") or "").strip()
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
        transitions.NewSurveyResponse(session_id=enrolment.session_id,
                                      employee_id=None if survey.is_anonymous else employee.id, answers=answers),
        batch_size=min_respondents(), released_on=today())


# --- reading results: whole cells of at least k responses only -------------------------------


def _shown_cells(rows: Sequence[Any], k: int) -> list[Any]:
    """The rows of the (survey, session, release day) cells that hold at least k responses."""
    cells: dict[tuple[int, int, date], list[Any]] = defaultdict(list)
    for row in rows:
        cells[(row.survey_id, row.session_id, row.released_on)].append(row)
    return [row for cell in cells.values() if len(cell) >= k for row in cell]


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
    received: int  # answers received for this filter (shown, pending or in a cell below k)
    shown: int  # answers counted in `questions`: whole cells of at least `min_respondents`
    invited: int
    min_respondents: int
    questions: list[QuestionResult]
    # session id -> answers still needed before that session's pending answers are shown (None:
    # fewer participants are left to answer, so they never will be). It tells nothing new: the
    # answers received per session are on the page already (`received` under the session
    # filter), and nothing of the answers themselves.
    needed: dict[int, int | None] = field(default_factory=dict)

    @property
    def held_back(self) -> int:
        return self.received - self.shown

    @property
    def response_rate(self) -> int | None:
        return None if not self.invited else round(100 * self.received / self.invited)


def results(course: Course, session_id: int | None = None) -> SurveyResults:
    """The survey's results for the course, or one of its sessions (reads only)."""
    k = min_respondents()
    invited_stmt = select(Enrolment.session_id, func.count()).where(
        Enrolment.course_id == course.id, Enrolment.state == EnrolmentState.CONFIRMED).group_by(Enrolment.session_id)
    if session_id is not None:
        invited_stmt = invited_stmt.where(Enrolment.session_id == session_id)
    invited_by_session = dict(db_session.execute(invited_stmt).all())
    invited = sum(invited_by_session.values())
    survey = survey_of_course(course.id)
    if survey is None:
        return SurveyResults(0, 0, invited, k, [QuestionResult(q) for q in _default_questions()])
    stmt = select(SurveyResponse.survey_id, SurveyResponse.session_id, SurveyResponse.released_on,
                  SurveyResponse.answers).where(SurveyResponse.survey_id == survey.id)
    pending_stmt = select(func.count()).select_from(PendingSurveyResponse).where(
        PendingSurveyResponse.survey_id == survey.id)
    if session_id is not None:
        stmt = stmt.where(SurveyResponse.session_id == session_id)
        pending_stmt = pending_stmt.where(PendingSurveyResponse.session_id == session_id)
    rows = db_session.execute(stmt).all()
    shown = _shown_cells(rows, k)
    per_question = {q.id: QuestionResult(q) for q in survey.questions}
    for row in shown:
        for key, value in row.answers.items():
            result = per_question.get(int(key))
            if result is None:
                continue
            if result.question.kind == SurveyQuestionKind.SCALE and isinstance(value, int) and 1 <= value <= 5:
                result.counts[value - 1] += 1
            elif isinstance(value, str):
                result.texts.append(value)
    for result in per_question.values():
        result.texts.sort()
    pending = dict(db_session.execute(
        pending_stmt.with_only_columns(PendingSurveyResponse.session_id, func.count())
        .group_by(PendingSurveyResponse.session_id)).all())
    received = len(rows) + sum(pending.values())
    released = Counter(row.session_id for row in rows)
    needed: dict[int, int | None] = {}
    for session, waiting in pending.items():
        left = invited_by_session.get(session, 0) - released[session] - waiting  # who may still answer
        needed[session] = k - waiting if k - waiting <= left else None
    return SurveyResults(received, len(shown), invited, k, list(per_question.values()), needed=needed)


def satisfaction_by_course(starts_on: date, ends_on: date) -> dict[int, tuple[float, int]]:
    """Average of each survey's first rating question (overall satisfaction), 1–5, per course, over
    the responses released in these days; only whole cells of at least k count."""
    first_scale = {}
    for survey_id, question_id in db_session.execute(
            select(SurveyQuestion.survey_id, func.min(SurveyQuestion.id))
            .where(SurveyQuestion.kind == SurveyQuestionKind.SCALE).group_by(SurveyQuestion.survey_id)):
        first_scale[survey_id] = str(question_id)
    course_of = dict(db_session.execute(select(Survey.id, Survey.course_id)).all())
    rows = db_session.execute(select(SurveyResponse.survey_id, SurveyResponse.session_id, SurveyResponse.released_on,
                                     SurveyResponse.answers).where(
        SurveyResponse.released_on >= starts_on, SurveyResponse.released_on <= ends_on)).all()
    sums: dict[int, list[int]] = {}
    for row in _shown_cells(rows, min_respondents()):
        value = row.answers.get(first_scale.get(row.survey_id, ""))
        if isinstance(value, int):
            bucket = sums.setdefault(course_of[row.survey_id], [0, 0])
            bucket[0] += value
            bucket[1] += 1
    return {course_id: (round(total / count, 2), count) for course_id, (total, count) in sums.items() if count}
