"""What the organisation domain announces to later domains (app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class StaffImported:
    """A staff list was applied: what people owe is evaluated again (assignment rules, app/catalog)."""

    as_of: date


@dataclass(frozen=True)
class EmployeesDeactivated:
    """People stopped being active (a staff import left them out): their sessions end."""

    employee_ids: tuple[int, ...]
