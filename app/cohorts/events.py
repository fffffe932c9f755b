from __future__ import annotations

from dataclasses import dataclass

from app.enrollment.events import Handover


@dataclass(frozen=True)
class EndorsementRequested:
    application_id: int


@dataclass(frozen=True)
class ApplicationDecided:
    application_id: int


@dataclass(frozen=True)
class SubmissionReviewed:
    submission_id: int


@dataclass(frozen=True)
class EndorsementsRerouted:
    """Applications waiting for endorsement moved to another head after a transfer (app/org
    ApproversChanged); each hand-over is app/enrollment's `Handover` (item: the application)."""

    change_key: str
    handovers: tuple[Handover, ...]
