"""What the organisation domain announces to later domains (app/events.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmployeesDeactivated:
    """People stopped being active (a staff import left them out): their sessions end."""

    employee_ids: tuple[int, ...]
