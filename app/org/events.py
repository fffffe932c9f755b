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


@dataclass(frozen=True)
class ApproversChanged:
    """Whose head someone reports to may have changed: people moved to another unit, or the head
    of a unit changed (HR on the web, or a staff import). Later domains hand the pending work of
    those people (requests to approve, applications to endorse) to their head as it is now, in
    the same transaction, and announce what moved; `change_key` names this change, so the notice
    to each new head and the audit trail group by it."""

    employee_ids: tuple[int, ...]  # people who moved to another unit
    unit_paths: tuple[str, ...]  # subtrees ("/1/7/") whose head changed: anyone in them may have a new head
    actor_id: int | None
    reason: str  # "transfer", "head_changed" or "staff_import"
    change_key: str
