"""Recurring and expiring training, run by the scheduler's scan: open the cycles of repeating
rules, and owe a course again once the completion that answered an assignment has expired.
Both are idempotent (app/catalog/cycles.py): running them twice, or from two schedulers at
once, opens each cycle once. Earlier cycles and completions are kept as they were."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from app.catalog.cycles import open_recurring_cycles, open_renewal_cycle
from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Recurrence
from app.completion.models import Completion
from app.core.db import db_session


@dataclass
class RecurrenceReport:
    opened: int = 0  # cycles of repeating rules
    renewed: int = 0  # assignments owed again after an expiry


def run_recurrence(today: date) -> RecurrenceReport:
    return RecurrenceReport(opened=open_recurring_cycles(today), renewed=renew_expired(today))


def renew_expired(today: date) -> int:
    """For rules that do not repeat: an active assignment answered by a completion that has
    expired (and not been renewed) is superseded by the next cycle, due a month later."""
    newer = aliased(Completion)
    rows = db_session.execute(
        select(Assignment, Completion.valid_until)
        .join(AssignmentRule, AssignmentRule.id == Assignment.rule_id)
        .join(Completion, and_(Completion.employee_id == Assignment.employee_id,
                               Completion.course_id == Assignment.course_id))
        .where(Assignment.status == AssignmentStatus.ACTIVE, AssignmentRule.is_active.is_(True),
               AssignmentRule.recurrence == Recurrence.NONE, AssignmentRule.rolled_over_at.is_(None),
               Completion.revoked_at.is_(None), Completion.valid_until < today,
               or_(Assignment.opens_on.is_(None), Completion.completed_on >= Assignment.opens_on),
               ~select(newer.id).where(newer.employee_id == Completion.employee_id,
                                       newer.course_id == Completion.course_id, newer.revoked_at.is_(None),
                                       newer.cycle > Completion.cycle).exists())
        .order_by(Assignment.id)).all()
    renewed = 0
    for assignment, expired_on in rows:
        if expired_on is not None:  # filtered above (valid_until < today); the column is nullable
            renewed += open_renewal_cycle(assignment, expired_on) is not None
    db_session.flush()
    return renewed
