"""A person's assigned training cycle by cycle, as their record shows it: for each assignment
(one per rule and cycle, app/catalog/recurrence.py) the completion that answered it, if any.
Pure: it reads the rows the page loaded already."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from app.catalog.models import Assignment, AssignmentStatus
from app.completion.models import Completion


@dataclass(frozen=True)
class CycleRow:
    assignment: Assignment
    completion: Completion | None  # the latest completion made within the cycle
    state: str  # done, expired, owed, overdue, missed (a past cycle not done), withdrawn


def cycle_history(assignments: Iterable[Assignment], completions: Iterable[Completion], today: date) -> list[CycleRow]:
    by_course: dict[int, list[Completion]] = defaultdict(list)
    for completion in sorted(completions, key=lambda c: (c.completed_on, c.cycle)):
        if completion.revoked_at is None:
            by_course[completion.course_id].append(completion)
    ordered = sorted(assignments, key=lambda a: (a.rule_id, a.cycle))
    next_opening: dict[int, date | None] = {}
    for earlier, later in pairwise(ordered):
        if earlier.rule_id == later.rule_id:
            next_opening[earlier.id] = later.opens_on
    rows = []
    for assignment in ordered:
        closes = next_opening.get(assignment.id)
        within = [c for c in by_course[assignment.course_id]
                  if (assignment.opens_on is None or c.completed_on >= assignment.opens_on)
                  and (closes is None or c.completed_on < closes)]
        answer = within[-1] if within else None  # the latest: a renewal within the cycle supersedes
        rows.append(CycleRow(assignment, answer, _state(assignment, answer, today)))
    return sorted(rows, key=lambda r: (r.assignment.course_id, -r.assignment.cycle))


def _state(assignment: Assignment, answer: Completion | None, today: date) -> str:
    if assignment.status == AssignmentStatus.WITHDRAWN:
        return "withdrawn"
    if answer is not None:
        if assignment.status == AssignmentStatus.ACTIVE and answer.is_expired_on(today):
            return "expired"
        return "done"
    if assignment.status == AssignmentStatus.SUPERSEDED:
        return "missed"
    return "overdue" if assignment.due_on < today else "owed"
