"""Rolling a fiscal year's assignment rules over to the next year: HR sees the preview (which rules,
for which course — next year's version where the course is versioned per fiscal year — due when,
for how many people), confirms, and it is applied once: each rule is claimed by a guarded move
(catalog/transitions.py) and its successor names it (unique), so a second click or a second HR
user creates nothing more."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.audit.services import record_event
from app.catalog.models import AssignmentRule, Course, CourseStatus, Recurrence
from app.catalog.recurrence import add_months
from app.catalog.services import create_assignment_rule
from app.catalog.transitions import claim_roll_over
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, Unit
from app.web.confirmations import fingerprint


@dataclass(frozen=True)
class RolloverLine:
    rule: AssignmentRule
    course: Course  # next year's version of the course, or the same course
    due_on: date
    people: int  # who the new rule would assign today
    skip: str | None  # "exists" (a rule for that course, grade and year exists) or "repeats" (it carries on)

    @property
    def is_new_version(self) -> bool:
        return self.course.id != self.rule.course_id


@dataclass
class RolloverResult:
    created: list[AssignmentRule] = field(default_factory=list)
    assigned: int = 0


def _candidates(from_year: int) -> list[AssignmentRule]:
    return list(db_session.scalars(
        select(AssignmentRule).where(AssignmentRule.fiscal_year == from_year, AssignmentRule.is_active.is_(True),
                                     AssignmentRule.rolled_over_at.is_(None))
        .options(selectinload(AssignmentRule.course), selectinload(AssignmentRule.grade),
                 selectinload(AssignmentRule.departments))
        .order_by(AssignmentRule.id)))


def _next_versions(rules: list[AssignmentRule], from_year: int) -> dict[str, Course]:
    """A course of `from_year` whose code carries the year (DX-SHUNIN-2026) → its published
    version of the next year (DX-SHUNIN-2027), when there is one."""
    wanted = {r.course.code.replace(str(from_year), str(from_year + 1)) for r in rules
              if r.course.fiscal_year == from_year and str(from_year) in r.course.code}
    if not wanted:
        return {}
    found = db_session.scalars(select(Course).where(Course.code.in_(wanted), Course.fiscal_year == from_year + 1,
                                                    Course.status == CourseStatus.PUBLISHED))
    return {course.code: course for course in found}


def _people_counts(rules: list[AssignmentRule]) -> dict[int, int]:
    """Who each rule would assign now, from one read of the active staff of the rules' grades."""
    grades = {r.grade_id for r in rules}
    if not grades:
        return {}
    staff = db_session.execute(select(Employee.grade_id, Unit.path).join(Unit, Employee.unit_id == Unit.id)
                               .where(Employee.is_active.is_(True), Employee.grade_id.in_(grades))).all()
    counts: Counter[int] = Counter()
    for rule in rules:
        paths = [d.path for d in rule.departments]
        counts[rule.id] = sum(1 for grade_id, path in staff if grade_id == rule.grade_id
                              and (not paths or any(path.startswith(p) for p in paths)))
    return dict(counts)


def preview_rollover(from_year: int) -> list[RolloverLine]:
    """What rolling `from_year` over would create (reads only; a fixed number of statements)."""
    rules = _candidates(from_year)
    versions = _next_versions(rules, from_year)
    taken = {(course_id, grade_id) for course_id, grade_id in db_session.execute(
        select(AssignmentRule.course_id, AssignmentRule.grade_id).where(AssignmentRule.fiscal_year == from_year + 1))}
    counts = _people_counts(rules)
    lines = []
    for rule in rules:
        course = versions.get(rule.course.code.replace(str(from_year), str(from_year + 1)), rule.course)
        skip = None
        if (course.id, rule.grade_id) in taken:
            skip = "exists"
        elif rule.recurrence != Recurrence.NONE and course.id == rule.course_id:
            skip = "repeats"
        lines.append(RolloverLine(rule, course, add_months(rule.due_on, 12), counts.get(rule.id, 0), skip))
    return lines


def apply_rollover(actor: Employee, from_year: int) -> RolloverResult:
    """Create next year's rules as previewed. Each rule is claimed first; a rule claimed by
    someone else meanwhile (or whose successor exists) is left alone. Only the caller commits."""
    result = RolloverResult()
    at = now()
    for line in preview_rollover(from_year):
        if line.skip is not None:
            continue
        rule = line.rule
        try:
            with db_session.begin_nested():
                if not claim_roll_over(rule.id, at):
                    continue
                new_rule, changes = create_assignment_rule(
                    actor, line.course, rule.grade, from_year + 1, line.due_on, rule.departments,
                    recurrence=rule.recurrence, interval_months=rule.interval_months, previous_rule_id=rule.id)
        except IntegrityError:  # its successor, or a rule for that course and grade, was created meanwhile
            continue
        result.created.append(new_rule)
        result.assigned += changes.assigned
    if result.created:
        record_event(actor, "catalog.assignment_rules_rolled_over", "assignment_rule", result.created[0].id,
                     summary=f"FY{from_year} -> FY{from_year + 1}: {len(result.created)} rule(s)",
                     after={"rules": [r.id for r in result.created],
                            "from": [r.previous_rule_id for r in result.created]})
    return result


def rollover_fingerprint(lines: list[RolloverLine]) -> str:
    """The digest of a preview: the confirm applies only what was listed (app/web/confirmations.py)."""
    return fingerprint([(line.rule.id, line.course.id, line.rule.grade_id, line.due_on, line.people, line.skip,
                         [d.id for d in line.rule.departments]) for line in lines])
