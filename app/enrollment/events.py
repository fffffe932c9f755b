"""What the enrolment domain announces (see app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnrolmentTransitioned:
    enrolment_id: int
    from_state: str | None
    to_state: str
    actor_id: int | None
    kind: str  # requested | confirmed | waitlisted | promoted | approved | forwarded | declined | cancelled
    note: str = ""


@dataclass(frozen=True)
class Handover:
    """One pending item that changed hands: from the head who was to decide it to the one who is
    now (None: nobody below HR, so it went to HR's stage)."""

    item_id: int
    employee_id: int  # whose request it is
    from_approver_id: int | None
    to_approver_id: int | None


@dataclass(frozen=True)
class ApprovalsRerouted:
    """Pending requests moved to another head after a transfer (app/org ApproversChanged)."""

    change_key: str
    handovers: tuple[Handover, ...]
