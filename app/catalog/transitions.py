"""The guarded moves of assignment rules and of their per-person cycles.

Assignment (one row per rule, person and cycle; unique)::

    ACTIVE ──withdraw (left the grade or department)──► WITHDRAWN ──reinstate──► ACTIVE
      │
      └──supersede (the next cycle opened: a new fiscal year, N months on, or the completion
                    that answered it expired)──► SUPERSEDED   (final; kept as history)

    The next cycle's row is inserted in the same transaction as the supersede that made room for
    it; the unique (rule, person, cycle) is the last word when two schedulers open it at once.

Assignment rule roll-over to the next fiscal year::

    rolled_over_at IS NULL ──roll_over (HR confirms the preview)──► rolled_over_at set (once)

A move is `UPDATE … WHERE id = :id AND <state> = :from`; the loser of a race changes nothing and
is told so by its caller.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus
from app.catalog.recurrence import Cycle
from app.core.db import db_session, rows_changed


def supersede(assignment_id: int) -> bool:
    """ACTIVE → SUPERSEDED; False when it was not active any more (another run got there first)."""
    return bool(rows_changed(db_session.execute(
        update(Assignment).where(Assignment.id == assignment_id, Assignment.status == AssignmentStatus.ACTIVE)
        .values(status=AssignmentStatus.SUPERSEDED).execution_options(synchronize_session=False))))


def insert_cycle(rule: AssignmentRule, employee_id: int, cycle: Cycle, at: datetime) -> Assignment | None:
    """The person's assignment for `cycle`, or None when it exists already (unique rule, person, cycle)."""
    assignment = Assignment(rule_id=rule.id, employee_id=employee_id, course_id=rule.course_id,
                            fiscal_year=cycle.fiscal_year, cycle=cycle.number, opens_on=cycle.opens_on,
                            due_on=cycle.due_on, status=AssignmentStatus.ACTIVE, assigned_at=at)
    try:
        with db_session.begin_nested():
            db_session.add(assignment)
    except IntegrityError:
        return None
    return assignment


def claim_roll_over(rule_id: int, at: datetime) -> bool:
    """Mark a rule rolled over; False when it already was (a second click, another HR user)."""
    return bool(rows_changed(db_session.execute(
        update(AssignmentRule).where(AssignmentRule.id == rule_id, AssignmentRule.rolled_over_at.is_(None))
        .values(rolled_over_at=at).execution_options(synchronize_session=False))))
