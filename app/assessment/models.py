from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, enum_column


class QuestionType(enum.StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    TRUE_FALSE = "true_false"
    SHORT = "short"  # graded by hand


class Quiz(Base):
    __tablename__ = "quizzes"
    __table_args__ = (
        CheckConstraint("pass_mark BETWEEN 0 AND 100", name="pass_mark_range"),
        CheckConstraint("attempts_allowed >= 1", name="attempts_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), unique=True)
    pass_mark: Mapped[int] = mapped_column(Integer, default=70)
    attempts_allowed: Mapped[int] = mapped_column(Integer, default=2)
    time_limit_minutes: Mapped[int | None] = mapped_column(Integer)
    shuffle: Mapped[bool] = mapped_column(Boolean, default=False)
    show_answers: Mapped[bool] = mapped_column(Boolean, default=True)  # once no attempt remains
    # The course may show them after every attempt, while attempts remain (never while one is open).
    show_answers_between_attempts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    opens_after_session: Mapped[bool] = mapped_column(Boolean, default=True)
    spec_hash: Mapped[str] = mapped_column(String(64), default="")  # of the course file's quiz section
    updated_at: Mapped[datetime]

    questions: Mapped[list[Question]] = relationship(
        order_by=lambda: Question.position,
        primaryjoin=lambda: (Quiz.id == Question.quiz_id) & Question.is_active, viewonly=True)


class Question(Base):
    """A question; retired (is_active false) rather than deleted once anyone has answered it."""

    __tablename__ = "quiz_questions"
    __table_args__ = (CheckConstraint("points >= 0", name="points_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[QuestionType] = mapped_column(enum_column(QuestionType))
    text: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[Any] = mapped_column(JSON)  # index, list of indexes, bool, or a model answer
    points: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "attempt_no"),
        Index("ix_quiz_attempts_employee_quiz", "employee_id", "quiz_id"),
        # A self-paced attempt (an e-learning module's closing quiz) has no enrolment: its number is
        # unique per person and quiz instead, so two tabs starting it at once start one attempt.
        Index("uq_quiz_attempts_self_paced", "quiz_id", "employee_id", "attempt_no", unique=True,
              sqlite_where=text("enrolment_id IS NULL"), postgresql_where=text("enrolment_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    # None: a self-paced attempt (an e-learning module's closing quiz)
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    attempt_no: Mapped[int] = mapped_column(Integer)
    question_order: Mapped[list[int]] = mapped_column(JSON)
    started_at: Mapped[datetime]
    deadline_at: Mapped[datetime | None]  # enforced on the server
    submitted_at: Mapped[datetime | None]
    timed_out: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[int | None] = mapped_column(Integer)  # points
    max_score: Mapped[int | None] = mapped_column(Integer)
    percent: Mapped[int | None] = mapped_column(Integer)
    needs_grading: Mapped[bool] = mapped_column(Boolean, default=False)
    passed: Mapped[bool | None] = mapped_column(Boolean)  # None until fully graded

    answers: Mapped[list[Answer]] = relationship(cascade="all, delete-orphan")


class Answer(Base):
    __tablename__ = "quiz_answers"
    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_questions.id"))
    response: Mapped[Any] = mapped_column(JSON)
    points_awarded: Mapped[int | None] = mapped_column(Integer)  # None: waiting for a grader
    graded_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    grader_comment: Mapped[str] = mapped_column(String(500), default="")

    question: Mapped[Question] = relationship()


class SurveyQuestionKind(enum.StrEnum):
    SCALE = "scale"  # 1–5
    TEXT = "text"


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), unique=True)
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=True)

    questions: Mapped[list[SurveyQuestion]] = relationship(order_by=lambda: SurveyQuestion.position,
                                                           cascade="all, delete-orphan")


class SurveyQuestion(Base):
    __tablename__ = "survey_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[SurveyQuestionKind] = mapped_column(enum_column(SurveyQuestionKind))
    text_ja: Mapped[str] = mapped_column(String(300))
    text_en: Mapped[str] = mapped_column(String(300))


class SurveyResponse(Base):
    """Released answers (app/assessment/surveys.py explains the anonymity). Rows arrive in batches
    of at least SURVEY_MIN_RESPONDENTS answers of one session, inserted in a random order with
    random ids and the batch's release day, so neither the order, the ids nor the date maps to a
    receipt. For an anonymous survey nothing here identifies the person."""

    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_survey_session", "survey_id", "session_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id", ondelete="CASCADE"))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))  # named only
    released_on: Mapped[date]  # the day the batch was released, the same for the whole batch
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)  # question id -> 1..5 or text


class PendingSurveyResponse(Base):
    """Answers waiting until enough of their session can be released together. The pool of a
    survey's session is written anew, in a random order with new random ids, on every arrival;
    no date, no sequence. Never read by any page."""

    __tablename__ = "survey_pending_responses"
    __table_args__ = (Index("ix_survey_pending_responses_survey_session", "survey_id", "session_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id", ondelete="CASCADE"))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))  # named only
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)


class SurveyReceipt(Base):
    """That an enrolment answered (for completion and to prevent a second answer) — not what."""

    __tablename__ = "survey_receipts"
    __table_args__ = (UniqueConstraint("survey_id", "enrolment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    answered_on: Mapped[date]
