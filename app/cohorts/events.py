from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndorsementRequested:
    application_id: int


@dataclass(frozen=True)
class ApplicationDecided:
    application_id: int


@dataclass(frozen=True)
class SubmissionReviewed:
    submission_id: int
