"""What the scheduling domain announces (see app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionMoved:
    session_id: int
    actor_id: int | None


@dataclass(frozen=True)
class SessionCancelled:
    session_id: int
    actor_id: int | None
    reason: str


@dataclass(frozen=True)
class SessionCapacityIncreased:
    session_id: int
    actor_id: int | None
