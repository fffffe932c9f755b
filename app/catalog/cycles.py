"""Opening the next cycle of an assignment (app/catalog/recurrence.py says when), run by the
scheduler's scan (app/cli/scheduled_jobs.py) and idempotent: a cycle already opened is left as it
is, the previous one is superseded by a guarded move and the new row is unique per rule, person
and cycle, so two runs at once open it once."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Recurrence
from app.catalog.recurrence import renewal_cycle, schedule_of
from app.catalog.services import latest_assignments, rule_members
from app.catalog.transitions import insert_cycle, supersede
from app.core.clock import now
from app.core.db import db_session


def open_recurring_cycles(today: date) -> int:
    """Give every member of a repeating rule the cycle open today, superseding their previous
    one (kept as history). A rule rolled over to the next fiscal year stops at its own year: its
    successor carries on. Returns how many assignments were opened."""
    opened = 0
    rules = db_session.scalars(select(AssignmentRule).where(
        AssignmentRule.is_active.is_(True), AssignmentRule.recurrence != Recurrence.NONE)
        .order_by(AssignmentRule.id)).all()
    at = now()
    for rule in rules:
        cycle = schedule_of(rule).current(today)
        if cycle.number == 1 or (rule.rolled_over_at is not None and cycle.fiscal_year > rule.fiscal_year):
            continue
        latest = latest_assignments(rule.id)
        for employee_id in sorted(rule_members(rule)):
            assignment = latest.get(employee_id)
            if assignment is not None and (assignment.cycle >= cycle.number
                                           or assignment.status == AssignmentStatus.WITHDRAWN):
                continue
            if assignment is not None and assignment.status == AssignmentStatus.ACTIVE and not supersede(assignment.id):
                continue  # another run moved it first: that run opens the cycle
            opened += insert_cycle(rule, employee_id, cycle, at) is not None
    db_session.flush()
    return opened


def open_renewal_cycle(assignment: Assignment, expired_on: date) -> Assignment | None:
    """The completion that answered `assignment` (of a rule that does not repeat) expired on
    `expired_on`: supersede it and owe the course again. None when another run did it first."""
    rule = db_session.get(AssignmentRule, assignment.rule_id)
    if rule is None or not supersede(assignment.id):
        return None
    return insert_cycle(rule, assignment.employee_id, renewal_cycle(assignment.cycle, expired_on), now())
