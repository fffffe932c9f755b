"""Quizzes: loading them from course files, taking them with a server-enforced time limit,
automatic grading of choice questions and hand grading of short answers. Every change of an
attempt or a graded answer is a move of app/assessment/transitions.py (where the state machine
is drawn)."""
from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.assessment import transitions
from app.assessment.models import Answer, Question, QuestionType, Quiz, QuizAttempt
from app.assessment.transitions import QuizError, Stale
from app.catalog.events import CatalogSynced
from app.catalog.models import Course
from app.core.clock import now
from app.core.db import db_session
from app.core.events import subscribe
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee
from app.web.ids import parse_int
from app.web.locale import format_datetime
from app.web.locale import gettext as _

GRACE = timedelta(seconds=30)  # network and clock slack when a page submits at the last second


AS_READ: Any = object()  # grade_answer: guard on the points as read now (no page in between)


def _hash(spec: dict[str, Any] | None) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode()).hexdigest() if spec else ""


def register_subscribers() -> None:
    subscribe(CatalogSynced, lambda event: materialize_file_quizzes())


def materialize_file_quizzes() -> None:
    """Quizzes written in course files become quiz rows (idempotent: unchanged sections stay)."""
    for course in db_session.scalars(select(Course).where(Course.quiz_spec.is_not(None))):
        materialize_quiz(course)


def materialize_quiz(course: Course) -> Quiz | None:
    """Make the course's quiz match the quiz section of its file (idempotent)."""
    spec = course.quiz_spec
    quiz = db_session.scalar(select(Quiz).where(Quiz.course_id == course.id))
    if spec is None:
        return quiz
    digest = _hash(spec)
    if quiz is not None and quiz.spec_hash == digest:
        return quiz
    if quiz is None:
        quiz = Quiz(course_id=course.id, updated_at=now())
        db_session.add(quiz)
    quiz.pass_mark = int(spec.get("pass_mark", course.quiz_pass_mark if course.quiz_pass_mark is not None else 70))
    quiz.attempts_allowed = int(spec.get("attempts_allowed", 2))
    quiz.time_limit_minutes = spec.get("time_limit_minutes")
    quiz.shuffle = bool(spec.get("shuffle", False))
    quiz.show_answers = bool(spec.get("show_answers", True))
    quiz.show_answers_between_attempts = bool(spec.get("show_answers_between_attempts", False))
    quiz.opens_after_session = bool(spec.get("opens_after_session", True))
    quiz.spec_hash, quiz.updated_at = digest, now()
    db_session.flush()
    replace_questions(quiz, [
        {"type": q["type"], "text": q["text"], "choices": q.get("choices") or [],
         "answer": q.get("answer"), "points": int(q.get("points", 1))}
        for q in spec.get("questions", [])])
    return quiz


def replace_questions(quiz: Quiz, questions: list[dict[str, Any]]) -> None:
    """New question set: answered questions are retired (kept for the record), others deleted."""
    answered = set(db_session.scalars(select(Answer.question_id).join(Question).where(Question.quiz_id == quiz.id)))
    for question in db_session.scalars(select(Question).where(Question.quiz_id == quiz.id, Question.is_active)):
        if question.id in answered:
            question.is_active = False
        else:
            db_session.delete(question)
    for position, q in enumerate(questions, start=1):
        db_session.add(Question(quiz_id=quiz.id, position=position, type=QuestionType(q["type"]), text=q["text"],
                                choices=list(q.get("choices") or []), answer=q.get("answer"),
                                points=int(q.get("points", 1)), is_active=True))
    db_session.flush()
    db_session.expire(quiz, ["questions"])


def quiz_for_course(course_id: int) -> Quiz | None:
    return db_session.scalar(select(Quiz).where(Quiz.course_id == course_id))


def quiz_opens_at(enrolment: Enrolment, quiz: Quiz) -> datetime:
    training_session = enrolment.training_session
    if not quiz.opens_after_session or not training_session.meetings:
        return enrolment.requested_at
    return max(m.starts_at for m in training_session.meetings)  # from the start of the last meeting


def attempts_of(enrolment_id: int, quiz_id: int) -> list[QuizAttempt]:
    return list(db_session.scalars(select(QuizAttempt).where(
        QuizAttempt.enrolment_id == enrolment_id, QuizAttempt.quiz_id == quiz_id).order_by(QuizAttempt.attempt_no)))


def self_paced_attempts(employee_id: int, quiz_id: int) -> list[QuizAttempt]:
    """A person's attempts at a quiz taken at their own pace (an e-learning module's closing quiz):
    no enrolment, numbered per person and quiz."""
    return list(db_session.scalars(select(QuizAttempt).where(
        QuizAttempt.employee_id == employee_id, QuizAttempt.quiz_id == quiz_id, QuizAttempt.enrolment_id.is_(None))
        .order_by(QuizAttempt.attempt_no)))


def _closed_to(employee: Employee, enrolment: Enrolment, quiz: Quiz, at: datetime) -> str | None:
    """Why this person cannot take the quiz at all now (not theirs, not open yet), or None."""
    if enrolment.employee_id != employee.id or enrolment.state != EnrolmentState.CONFIRMED:
        return _("Only confirmed participants can take this quiz.")
    if at < quiz_opens_at(enrolment, quiz):
        return _("The quiz opens on %(when)s.", when=format_datetime(quiz_opens_at(enrolment, quiz)))
    return None


def no_new_attempt(quiz: Quiz, attempts: list[QuizAttempt]) -> str | None:
    """Why no further attempt may start (passed, or every attempt used), or None."""
    if any(a.passed for a in attempts):
        return _("You have already passed this quiz.")
    if len(attempts) >= quiz.attempts_allowed:
        return _("You have used all %(n)s attempts.", n=quiz.attempts_allowed)
    return None


def _expired(attempt: QuizAttempt, at: datetime) -> bool:
    return attempt.submitted_at is None and attempt.deadline_at is not None and at > attempt.deadline_at + GRACE


@dataclass
class QuizStatus:
    """Where a person stands with a quiz, read without writing anything (for GET pages)."""

    attempts: list[QuizAttempt]
    open_attempt: QuizAttempt | None  # open and within its time: the quiz page shows it
    expired_attempt: QuizAttempt | None  # open past its deadline: the next POST closes and marks it
    closed_because: str | None  # why the quiz cannot be taken now at all
    next_attempt_no: int | None  # the attempt a start would begin (if the expired one does not pass)

    @property
    def can_start(self) -> bool:
        return self.closed_because is None and self.open_attempt is None and self.next_attempt_no is not None


def status_of(employee: Employee, enrolment: Enrolment, quiz: Quiz, at: datetime | None = None) -> QuizStatus:
    at = at or now()
    return _status(attempts_of(enrolment.id, quiz.id), quiz, _closed_to(employee, enrolment, quiz, at), at)


def self_paced_status(employee: Employee, quiz: Quiz, closed_because: str | None,
                      at: datetime | None = None) -> QuizStatus:
    """`status_of` for a self-paced quiz; whether it is open is the caller's (the module's) to say."""
    return _status(self_paced_attempts(employee.id, quiz.id), quiz, closed_because, at or now())


def _status(attempts: list[QuizAttempt], quiz: Quiz, closed_because: str | None, at: datetime) -> QuizStatus:
    open_attempt = next((a for a in attempts if a.submitted_at is None and not _expired(a, at)), None)
    expired = next((a for a in attempts if _expired(a, at)), None)
    next_no = None if no_new_attempt(quiz, attempts) else len(attempts) + 1
    return QuizStatus(attempts, open_attempt, expired, closed_because, next_no)


def answers_visible(quiz: Quiz, attempts: list[QuizAttempt]) -> bool:
    """The correct answers (and the per-question marking that gives them away) are shown once no
    attempt remains, or after each attempt when the course says so; never while one is open."""
    if not quiz.show_answers or not attempts or any(a.submitted_at is None for a in attempts):
        return False
    return quiz.show_answers_between_attempts or no_new_attempt(quiz, attempts) is not None


def start_or_resume(employee: Employee, enrolment: Enrolment, quiz: Quiz, at: datetime | None = None, *,
                    resume_only: bool = False) -> QuizAttempt:
    """The open attempt, or a new one (a POST: a page that is only looked at never starts one). An
    attempt past its deadline is closed and marked first. With `resume_only` (answers being sent)
    never a new one: a late or repeated submission must not start, and so use up, another attempt."""
    at = at or now()
    return _start_or_resume(employee, quiz, _closed_to(employee, enrolment, quiz, at),
                            lambda: attempts_of(enrolment.id, quiz.id), enrolment.id, at, resume_only)


def self_paced_start_or_resume(employee: Employee, quiz: Quiz, closed_because: str | None,
                               at: datetime | None = None, *, resume_only: bool = False) -> QuizAttempt:
    """`start_or_resume` for a self-paced quiz (no enrolment); the module says whether it is open."""
    return _start_or_resume(employee, quiz, closed_because, lambda: self_paced_attempts(employee.id, quiz.id),
                            None, at or now(), resume_only)


def _start_or_resume(employee: Employee, quiz: Quiz, closed: str | None,
                     read_attempts: Callable[[], list[QuizAttempt]], enrolment_id: int | None, at: datetime,
                     resume_only: bool) -> QuizAttempt:
    if closed is not None:
        raise QuizError(closed)
    attempts = read_attempts()
    timed_out = False
    for attempt in attempts:
        if attempt.submitted_at is None:
            if _expired(attempt, at):
                try:
                    finish(attempt, at, timed_out=True)
                except Stale:
                    pass  # closed by another request at the same moment
                timed_out = True
                if resume_only:
                    raise QuizError(_("Time is up. Your answers saved before the time limit were marked."))
            else:
                return attempt  # a reload resumes the same attempt, same order, same deadline
    if resume_only:
        raise Stale(_("This attempt has already been submitted."))
    refused = no_new_attempt(quiz, attempts)
    if refused is not None:
        raise QuizError(_("Time is up. Your answers saved before the time limit were marked.") if timed_out
                        else refused)
    order = [q.id for q in quiz.questions]
    if quiz.shuffle:
        random.SystemRandom().shuffle(order)
    attempt = QuizAttempt(quiz_id=quiz.id, enrolment_id=enrolment_id, employee_id=employee.id,
                          attempt_no=len(attempts) + 1, question_order=order, started_at=at,
                          deadline_at=at + timedelta(minutes=quiz.time_limit_minutes) if quiz.time_limit_minutes
                          else None)
    if transitions.record_attempt(attempt):
        return attempt
    # Another tab started this attempt at the same moment: resume that one.
    started = next((a for a in read_attempts() if a.submitted_at is None), None)
    if started is None:
        raise Stale(_("This attempt has already been submitted."))
    return started


def _clean(question: Question, raw: Any) -> Any:
    if question.type == QuestionType.SINGLE:
        choice = parse_int(raw, maximum=len(question.choices) - 1)
        return choice
    if question.type == QuestionType.MULTIPLE:
        values = raw if isinstance(raw, list) else [raw]
        return sorted({c for c in (parse_int(v, maximum=len(question.choices) - 1) for v in values) if c is not None})
    if question.type == QuestionType.TRUE_FALSE:
        return {"true": True, "false": False}.get(raw) if isinstance(raw, str) else None
    return raw.strip()[:2000] if isinstance(raw, str) else ""


def save_answers(attempt: QuizAttempt, responses: dict[int, Any], at: datetime | None = None) -> None:
    """Store answers so far (a reload keeps them); refused after the deadline and once submitted
    (another tab, a double click): the attempt row is locked open while the answers are written."""
    at = at or now()
    transitions.lock_open(attempt)
    if attempt.deadline_at is not None and at > attempt.deadline_at + GRACE:
        finish(attempt, at, timed_out=True)
        raise QuizError(_("Time is up. Your answers saved before the time limit were marked."))
    questions = {q.id: q for q in db_session.scalars(select(Question).where(Question.id.in_(attempt.question_order)))}
    existing = {a.question_id: a for a in attempt.answers}
    for question_id, raw in responses.items():
        question = questions.get(question_id)
        if question is None:
            continue
        value = _clean(question, raw)
        if question_id in existing:
            existing[question_id].response = value
        else:
            attempt.answers.append(Answer(question_id=question_id, response=value))
    db_session.flush()


def submit(attempt: QuizAttempt, responses: dict[int, Any], at: datetime | None = None) -> QuizAttempt:
    at = at or now()
    save_answers(attempt, responses, at)
    return finish(attempt, at, timed_out=False)


def _auto_points(question: Question, response: Any) -> int | None:
    if question.type == QuestionType.SHORT:
        return None
    if question.type == QuestionType.MULTIPLE:
        correct = sorted(int(i) for i in (question.answer or []))
        return question.points if response == correct else 0
    return question.points if response is not None and response == question.answer else 0


def finish(attempt: QuizAttempt, at: datetime, *, timed_out: bool) -> QuizAttempt:
    """OPEN → SUBMITTED (the guarded move comes first: a second submit stops there), then the
    automatic grading."""
    transitions.close(attempt, min(at, attempt.deadline_at + GRACE) if (timed_out and attempt.deadline_at) else at,
                      timed_out=timed_out)
    answers = {a.question_id: a for a in attempt.answers}
    for question in db_session.scalars(select(Question).where(Question.id.in_(attempt.question_order))):
        answer = answers.get(question.id)
        if answer is None:
            answer = Answer(question_id=question.id, response=None)
            attempt.answers.append(answer)
        if answer.points_awarded is None:
            if question.type == QuestionType.SHORT:
                # A blank short answer scores 0 at once; a written one waits for a grader.
                answer.points_awarded = None if answer.response else 0
            else:
                answer.points_awarded = _auto_points(question, answer.response)
    db_session.flush()
    _score(attempt)
    return attempt


def _score(attempt: QuizAttempt) -> None:
    quiz = db_session.get(Quiz, attempt.quiz_id)
    assert quiz is not None
    questions = {q.id: q for q in db_session.scalars(select(Question).where(Question.id.in_(attempt.question_order)))}
    max_score = sum(q.points for q in questions.values())
    score = sum(a.points_awarded or 0 for a in attempt.answers)
    waiting = [a for a in attempt.answers if a.points_awarded is None]
    best = score + sum(questions[a.question_id].points for a in waiting if a.question_id in questions)
    # Rounded down, so a pass is never reached by rounding (87.5 % does not meet a pass mark of 88 %).
    percent = 100 * score // max_score if max_score else 100
    best_percent = 100 * best // max_score if max_score else 100
    transitions.record_score(attempt, score, max_score, percent,
                             transitions.outcome(percent, best_percent, quiz.pass_mark), needs_grading=bool(waiting))


def grade_attempt(grader: Employee, attempt: QuizAttempt, grades: dict[int, tuple[int, str, Any]]) -> int:
    """Hand-grade short answers: answer id → (points, comment, points as the grader saw them, or
    AS_READ). Under the attempt's lock, each changed answer is one guarded move; the attempt is
    scored once from every answer as committed. Returns how many answers changed."""
    for answer_id, (points, _comment, _shown) in grades.items():
        answer = db_session.get(Answer, answer_id)
        if answer is None or answer.attempt_id != attempt.id:
            raise QuizError(_("This answer is not part of the attempt."))
        if not 0 <= points <= answer.question.points:
            raise QuizError(_("Give between 0 and %(n)s points.", n=answer.question.points))
    transitions.lock_for_grading(attempt)
    changed = 0
    for answer in attempt.answers:
        if answer.id not in grades:
            continue
        points, comment, shown = grades[answer.id]
        if shown is AS_READ:
            shown = answer.points_awarded
        if points == answer.points_awarded == shown and comment[:500] == answer.grader_comment:
            continue  # as it was: nothing to record
        transitions.grade(answer, grader, points, comment, shown)
        changed += 1
    if changed:
        _score(attempt)
    return changed


def grade_answer(grader: Employee, answer: Answer, points: int, comment: str = "", shown: Any = AS_READ) -> None:
    attempt = db_session.get(QuizAttempt, answer.attempt_id)
    assert attempt is not None
    grade_attempt(grader, attempt, {answer.id: (points, comment, shown)})


def quiz_passed(enrolment_id: int, quiz_id: int) -> bool:
    return bool(db_session.scalar(select(func.count()).select_from(QuizAttempt).where(
        QuizAttempt.enrolment_id == enrolment_id, QuizAttempt.quiz_id == quiz_id, QuizAttempt.passed.is_(True))))


def self_paced_passed(employee_id: int, quiz_id: int) -> bool:
    return bool(db_session.scalar(select(func.count()).select_from(QuizAttempt).where(
        QuizAttempt.employee_id == employee_id, QuizAttempt.quiz_id == quiz_id, QuizAttempt.enrolment_id.is_(None),
        QuizAttempt.passed.is_(True))))

