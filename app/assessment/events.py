from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuizGraded:
    enrolment_id: int


@dataclass(frozen=True)
class SurveyAnswered:
    enrolment_id: int
