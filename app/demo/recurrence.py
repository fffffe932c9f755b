"""The demo's recurring and expiring training: information security (ELEC-SECURITY-2020, valid 12
months, courses/) is owed by every 主任級 every fiscal year, by a rule that began last fiscal
year, due at the end of January (a business day in both years). So the demo shows, relative to the day it is loaded:

- the rule repeating on the rules page, each person's two cycles on their record (last year's
  kept as history, this year's to do);
- the demo employee's certificate from 13 months ago, expired;
- the demo manager's certificate, expiring in 19 days, with its "expiring soon" notice queued.

Idempotent: the rule, the completions and the cycles are made once."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from app.catalog.cycles import open_recurring_cycles
from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Course, Recurrence
from app.catalog.recurrence import add_months, schedule_of
from app.catalog.services import create_assignment_rule
from app.catalog.transitions import insert_cycle
from app.completion.models import Completion
from app.completion.services import record_manual_completion
from app.core.business_days import is_business_day
from app.core.clock import now, today
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.demo.organisation import demo_logins
from app.org.models import Employee, Grade, RoleGrant, RoleName
from app.reminders.scans import scan_expiring_completions

COURSE = "ELEC-SECURITY-2020"
GRADE = "SHUNIN"


def load_demo_recurrence() -> None:
    course = db_session.scalar(select(Course).where(Course.code == COURSE))
    grade = db_session.scalar(select(Grade).where(Grade.code == GRADE))
    recorder = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                                 .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    if course is None or grade is None or recorder is None:
        return
    current = today()
    last_year = fiscal_year_of(current).year - 1
    rule = db_session.scalar(select(AssignmentRule).where(
        AssignmentRule.course_id == course.id, AssignmentRule.grade_id == grade.id,
        AssignmentRule.fiscal_year == last_year))
    if rule is None:
        rule, _changes = create_assignment_rule(recorder, course, grade, last_year, due_on(last_year),
                                                recurrence=Recurrence.FISCAL_YEAR)
        _backfill_last_cycle(rule)
    logins = {login.role.split(" ")[0]: login.login for login in demo_logins()}
    people = {role: db_session.scalar(select(Employee).where(Employee.employee_number == number))
              for role, number in logins.items()}
    _complete_once(recorder, people.get("employee"), course, add_months(current, -13))  # expired a month ago
    _complete_once(recorder, people.get("manager"), course, add_months(current, -12) + timedelta(days=20))
    open_recurring_cycles(current)
    scan_expiring_completions(now())
    db_session.flush()


def due_on(fiscal_year: int) -> date:
    """The rule's first due date: the last business day on or before 29 January of the fiscal year
    whose date a year later (this year's cycle) is a business day too."""
    day = date(fiscal_year + 1, 1, 29)
    while not (is_business_day(day) and is_business_day(add_months(day, 12))):
        day -= timedelta(days=1)
    return day


def _backfill_last_cycle(rule: AssignmentRule) -> None:
    """The rule began last year: its members had last year's cycle, now history (the rule,
    created today, gave them this year's)."""
    first = schedule_of(rule).cycle(1)
    members = db_session.scalars(select(Assignment.employee_id).where(Assignment.rule_id == rule.id)).all()
    for employee_id in members:
        past = insert_cycle(rule, employee_id, first, now())
        if past is not None:
            past.status = AssignmentStatus.SUPERSEDED


def _complete_once(recorder: Employee, person: Employee | None, course: Course, completed_on: date) -> None:
    if person is None or db_session.scalar(select(Completion.id).where(
            Completion.employee_id == person.id, Completion.course_id == course.id).limit(1)) is not None:
        return
    record_manual_completion(recorder, person, course, completed_on, course.hours, "demo")
