"""What sign-in announces to later domains (app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignInDelayed:
    """An account reached its first sign-in delay: mail its owner the single-use unlock link.

    `unlock_path` holds the secret token (reminders prefixes BASE_URL). The link only
    lifts the delay for the browser that uses it; it never signs anyone in."""

    employee_id: int
    unlock_id: int
    unlock_path: str
