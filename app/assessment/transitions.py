"""The state machines of assessment. Every change of a quiz attempt, of a hand-graded answer and
every survey answer is one guarded statement in this module, so a double click, two tabs or two
graders at once take effect once and the loser is told what happened (never a 500).

Quiz attempt (one row per attempt; `attempt_no` unique per enrolment, or per person and quiz for a
self-paced attempt, an e-learning module's closing quiz)::

    start (a POST) ──► OPEN ──submit (or the deadline, closed by the next POST)──► SUBMITTED
               │  (answers may be saved)                                    │
               │                                   every answer scored ─────┤
               │                                                            ▼
               │   short answers wait, and decide ──► NEEDS GRADING ──grade the last──► GRADED
               │                                                  (or enough)    (passed set, final)
               │   short answers wait, decided anyway ──► DECIDED ──grade the last──► GRADED
               └──────────────────────────────────────── (passed set, final; still needs_grading)

    Short answers only add points, so the outcome is decided while some still wait when the points
    already scored reach the pass mark (passed), or when full points on every waiting answer would
    not (not passed): `outcome`. Only an attempt whose outcome hangs on its waiting answers waits
    for a grader (passed NULL); the others are graded for the record and the learner's feedback.

    OPEN → SUBMITTED is `UPDATE quiz_attempts SET submitted_at = … WHERE id = :id AND submitted_at
    IS NULL`; → GRADED or DECIDED is `… SET passed = … WHERE id = :id AND passed IS NULL` (QuizGraded
    is announced by that move only, so completion is evaluated once, as soon as the outcome is
    known); DECIDED → GRADED keeps `passed` (`… WHERE id = :id AND passed = :decided`). Answers are
    written only while the attempt row is locked open (`lock_open`), so a save that loses to the
    submit changes nothing.

Short answer::

    UNGRADED (points NULL) ──grade──► GRADED (points) ──regrade, as the grader saw it──► GRADED

    `UPDATE quiz_answers SET points_awarded = :p … WHERE id = :id AND points_awarded IS NOT DISTINCT
    FROM :shown`, under the attempt's row lock (`lock_for_grading`), so two graders saving at once
    cannot both grade, and the attempt's score is computed from every answer as committed.

Survey (per enrolment)::

    unanswered ──answer──► answered   (a receipt, unique per survey and enrolment; the response
                                       joins its session's pool with it or not at all)

Survey response (per survey and session; why, in app/assessment/surveys.py)::

    answer ──► PENDING (the session's pool, rewritten in a random order on every arrival)
                  │
                  └──k pending──► RELEASED (one batch: random order, random ids, one day)

    Under the survey row's lock (`SELECT … FOR UPDATE`; SQLite's writer lock), so two answers of
    one survey at once neither lose nor duplicate a pooled response: the second waits, then reads
    the pool as the first left it. Batches never hold fewer than k; a remainder stays pending.
"""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import attributes

from app.assessment.events import QuizGraded, SurveyAnswered
from app.assessment.models import Answer, PendingSurveyResponse, QuizAttempt, Survey, SurveyReceipt, SurveyResponse
from app.audit.services import record_event
from app.core.db import db_session, rows_changed
from app.core.events import emit
from app.org.models import Employee
from app.web.locale import gettext as _


class QuizError(Exception):
    """Why a quiz cannot be started, submitted or graded, fit to show the person."""


class Stale(QuizError):
    """The attempt or answer was changed by someone else (another tab, another grader) since it
    was read; the message says what happened. Views answer it with a flash and a redirect."""


class SurveyError(Exception):
    """Why the survey cannot be answered, fit to show."""


class SurveyAlreadyAnswered(SurveyError):
    """The loser of a double submit: the receipt was already there."""


def _set_loaded(row: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        attributes.set_committed_value(row, key, value)


# --- attempts --------------------------------------------------------------------------------


def record_attempt(attempt: QuizAttempt) -> bool:
    """Insert a new OPEN attempt; False if another request started the same attempt number first
    (two tabs opening the quiz at once): the caller resumes that one instead."""
    try:
        with db_session.begin_nested():
            db_session.add(attempt)
            db_session.flush()
    except IntegrityError:
        return False
    return True


def lock_open(attempt: QuizAttempt) -> None:
    """Lock the attempt row (held to commit) and make sure it is still OPEN: answers are only
    written under this lock, so they cannot change after the attempt was submitted."""
    submitted_at = db_session.execute(select(QuizAttempt.submitted_at).where(QuizAttempt.id == attempt.id)
                                      .with_for_update()).scalar_one()
    if submitted_at is not None:
        db_session.refresh(attempt)
        raise Stale(_("This attempt has already been submitted."))
    db_session.expire(attempt, ["answers"])


def close(attempt: QuizAttempt, submitted_at: datetime, *, timed_out: bool) -> None:
    """OPEN → SUBMITTED, once."""
    values = {"submitted_at": submitted_at, "timed_out": timed_out}
    moved = rows_changed(db_session.execute(update(QuizAttempt).where(QuizAttempt.id == attempt.id,
                                                         QuizAttempt.submitted_at.is_(None))
                               .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        db_session.refresh(attempt)
        raise Stale(_("This attempt has already been submitted."))
    _set_loaded(attempt, values)


def outcome(percent: int, best_percent: int, pass_mark: int) -> bool | None:
    """Passed (True) or not (False) once it is certain, None while waiting answers decide it.
    `best_percent`: the percent should every answer still waiting get its full points."""
    if percent >= pass_mark:
        return True
    if best_percent < pass_mark:
        return False
    return None


def record_score(attempt: QuizAttempt, score: int, max_score: int, percent: int, passed: bool | None,
                 needs_grading: bool) -> None:
    """Store the score so far; once the outcome is certain (`outcome`), SUBMITTED → GRADED (or
    DECIDED while short answers still wait), once. An attempt decided before keeps its outcome."""
    values: dict[str, Any] = {"score": score, "max_score": max_score, "percent": percent,
                              "needs_grading": needs_grading}
    if passed is None:
        db_session.execute(update(QuizAttempt).where(QuizAttempt.id == attempt.id, QuizAttempt.passed.is_(None))
                           .values(**values).execution_options(synchronize_session=False))
        _set_loaded(attempt, {**values, "passed": None})
        return
    if attempt.passed is not None:  # DECIDED → GRADED (or a regrade): the outcome stays as decided
        moved = rows_changed(db_session.execute(update(QuizAttempt).where(
            QuizAttempt.id == attempt.id, QuizAttempt.passed == attempt.passed)
            .values(**values).execution_options(synchronize_session=False)))
        if moved != 1:
            db_session.refresh(attempt)
            raise Stale(_("This attempt has already been graded."))
        _set_loaded(attempt, values)
        return
    values["passed"] = passed
    moved = rows_changed(db_session.execute(update(QuizAttempt).where(
        QuizAttempt.id == attempt.id, QuizAttempt.submitted_at.is_not(None), QuizAttempt.passed.is_(None))
        .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        db_session.refresh(attempt)
        raise Stale(_("This attempt has already been graded."))
    _set_loaded(attempt, values)
    emit(QuizGraded(attempt.enrolment_id, attempt.quiz_id, attempt.employee_id))


# --- hand grading ----------------------------------------------------------------------------


def lock_for_grading(attempt: QuizAttempt) -> None:
    """Lock the attempt row (held to commit) and make sure short answers still wait for a grader
    (whether or not its outcome is decided already)."""
    row = db_session.execute(select(QuizAttempt.submitted_at, QuizAttempt.needs_grading).where(
        QuizAttempt.id == attempt.id).with_for_update()).one()
    db_session.refresh(attempt)
    db_session.execute(select(Answer).where(Answer.attempt_id == attempt.id)
                       .execution_options(populate_existing=True)).all()  # the answers as committed now
    db_session.expire(attempt, ["answers"])
    if row.submitted_at is None:
        raise QuizError(_("This attempt has not been submitted yet."))
    if not row.needs_grading:
        raise Stale(_("This attempt has already been graded."))


def grade(answer: Answer, grader: Employee, points: int, comment: str, shown: int | None) -> None:
    """An answer's points as the grader saw them (`shown`) → `points`, or `Stale`."""
    values = {"points_awarded": points, "graded_by_id": grader.id, "grader_comment": comment[:500]}
    guard = Answer.points_awarded.is_(None) if shown is None else Answer.points_awarded == shown
    moved = rows_changed(db_session.execute(update(Answer).where(Answer.id == answer.id, guard).values(**values)
                               .execution_options(synchronize_session=False)))
    if moved != 1:
        db_session.refresh(answer)
        raise Stale(_("Someone else graded this answer meanwhile (now %(points)s points). Check and save again.",
                      points=answer.points_awarded if answer.points_awarded is not None else "—"))
    _set_loaded(answer, values)
    record_event(grader, "assessment.answer_graded", "quiz_answer", answer.id,
                 before={"points": shown}, after={"points": points})


# --- surveys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSurveyResponse:
    session_id: int
    employee_id: int | None  # named surveys only
    answers: dict[str, Any]


def shuffle(rows: list[dict[str, Any]]) -> None:
    """The order in which pooled and released responses are written (tests replace it)."""
    random.SystemRandom().shuffle(rows)


def record_survey_answer(receipt: SurveyReceipt, response: NewSurveyResponse, *, batch_size: int,
                         released_on: date) -> None:
    """Unanswered → answered, once: the receipt's unique (survey, enrolment) decides. The response
    joins its session's pool, which is written anew in a random order with fresh ids, or released
    with it as one batch once it holds `batch_size`."""
    survey_id = receipt.survey_id
    db_session.execute(select(Survey.id).where(Survey.id == survey_id).with_for_update())
    try:
        with db_session.begin_nested():
            db_session.add(receipt)
            db_session.flush()
    except IntegrityError:
        raise SurveyAlreadyAnswered(_("You have already answered this survey. Thank you.")) from None
    in_pool = (PendingSurveyResponse.survey_id == survey_id, PendingSurveyResponse.session_id == response.session_id)
    rows = [{"survey_id": survey_id, "session_id": response.session_id, "employee_id": employee_id, "answers": answers}
            for employee_id, answers in db_session.execute(
                select(PendingSurveyResponse.employee_id, PendingSurveyResponse.answers).where(*in_pool))]
    rows.append({"survey_id": survey_id, "session_id": response.session_id, "employee_id": response.employee_id,
                 "answers": response.answers})
    db_session.execute(delete(PendingSurveyResponse).where(*in_pool).execution_options(synchronize_session=False))
    shuffle(rows)
    release = len(rows) >= batch_size
    for row in rows:  # one statement each, in the shuffled order: that order is the stored one
        values = {**row, "id": secrets.token_hex(16), **({"released_on": released_on} if release else {})}
        db_session.execute(insert(SurveyResponse if release else PendingSurveyResponse).values(**values))
    emit(SurveyAnswered(receipt.enrolment_id))
