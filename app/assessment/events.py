from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuizGraded:
    enrolment_id: int | None  # None: a self-paced attempt (an e-learning module's quiz)
    quiz_id: int = 0
    employee_id: int = 0


@dataclass(frozen=True)
class SurveyAnswered:
    enrolment_id: int
