"""The demo's mandatory training as HR's compliance view (app/reports/compliance.py) shows it: the
grade-training rules of app/catalog/demo.py are due in February, so on most days nothing would be
overdue or due soon. The e-learning データ活用入門 (ELEC-DATA-2020) is assigned this fiscal year
relative to the day the demo is loaded: already overdue for every 主事・技師, due within 30 days
for every 主査; part of them have completed it (recorded by HR), a larger part in later
departments, so every state shows and the departments differ on the chart. It is a course no other
part of the demo completes or assigns (ELEC-SECURITY-2020 recurs in app/demo/recurrence.py; the
half-year report's demo completes other electives). Idempotent: a rule that exists already is left
as it is."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Course
from app.catalog.services import create_assignment_rule
from app.completion.services import record_manual_completion, valid_completion
from app.core.clock import today
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.org.models import Employee, Grade, RoleGrant, RoleName, Unit

# (course code, grade code, due in days from today, % done in the first department; later ones do better)
DEMO_COMPLIANCE = (("ELEC-DATA-2020", "SHUJI", -14, 30), ("ELEC-DATA-2020", "SHUSA", 20, 10))


def load_demo_compliance() -> None:
    current = today()
    fiscal_year = fiscal_year_of(current).year
    recorder = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                                 .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    order = {unit.id: unit.sort_order for unit in db_session.scalars(select(Unit).where(Unit.parent_id.is_(None)))}
    for course_code, grade_code, due_in_days, share in DEMO_COMPLIANCE:
        course = db_session.scalar(select(Course).where(Course.code == course_code))
        grade = db_session.scalar(select(Grade).where(Grade.code == grade_code))
        if course is None or grade is None or recorder is None:
            continue
        exists = db_session.scalar(select(AssignmentRule.id).where(
            AssignmentRule.course_id == course.id, AssignmentRule.grade_id == grade.id,
            AssignmentRule.fiscal_year == fiscal_year))
        if exists is not None:
            continue
        rule, _changes = create_assignment_rule(recorder, course, grade, fiscal_year,
                                                current + timedelta(days=due_in_days))
        staff = list(db_session.scalars(select(Employee).join(Assignment, Assignment.employee_id == Employee.id)
                                        .where(Assignment.rule_id == rule.id,
                                               Assignment.status == AssignmentStatus.ACTIVE)
                                        .order_by(Employee.employee_number)))
        for index, employee in enumerate(staff):
            department = int(employee.unit.path.strip("/").split("/")[0]) if employee.unit else 0
            done_share = share + 8 * order.get(department, 0)  # so the departments differ on the chart
            if (index * 37) % 100 < done_share and valid_completion(employee.id, course.id) is None:
                record_manual_completion(recorder, employee, course, current - timedelta(days=3 + index % 20),
                                         course.hours, "demo")
    db_session.flush()
