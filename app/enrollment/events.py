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
