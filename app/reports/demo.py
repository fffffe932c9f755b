"""The demo's mandatory training as HR's compliance view (app/reports/compliance.py) shows it: the
grade-training rules of app/catalog/demo.py are due in December and February, so on most days they
are not overdue. The e-learning データ活用入門 (ELEC-DATA-2020) is assigned this fiscal year
relative to the day the demo is loaded (each due date a business day): already overdue for every
主事・技師 and for the 主任級 of デジタル推進局 (the demo employee among them), due within 30 days for
every 主査, within about six weeks for every 課長補佐 (the demo instructor and admin among them,
so their own to-do lists are not empty); part of them have completed it (recorded by HR), a larger
part in later departments, so every state shows and the departments differ on the chart. Nobody of the demo manager's
division (データ活用推進課) has done it yet: their team page has people overdue. It is a course no
other part of the demo completes or assigns (ELEC-SECURITY-2020 recurs in app/demo/recurrence.py;
the half-year report's demo completes other electives). Idempotent: a rule that exists already is
left as it is."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Course
from app.catalog.services import create_assignment_rule
from app.completion.services import record_manual_completion, valid_completion
from app.core.business_days import business_days_before
from app.core.clock import today
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.org.models import Employee, Grade, RoleGrant, RoleName, Unit

# (course code, grade code, only this department (or everywhere), due in days from today, % done in the
# first department; later ones do better)
DEMO_COMPLIANCE = (("ELEC-DATA-2020", "SHUJI", None, -14, 30), ("ELEC-DATA-2020", "SHUNIN", "D02", -14, 30),
                   ("ELEC-DATA-2020", "SHUSA", None, 20, 10), ("ELEC-DATA-2020", "HOSA", None, 45, 0))
NOT_YET = "D0204"  # the demo manager's division: nobody there has done it yet


def load_demo_compliance() -> None:
    current = today()
    fiscal_year = fiscal_year_of(current).year
    recorder = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                                 .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    not_yet = db_session.scalar(select(Unit.id).where(Unit.code == NOT_YET))
    order = {unit.id: unit.sort_order for unit in db_session.scalars(select(Unit).where(Unit.parent_id.is_(None)))}
    for course_code, grade_code, department_code, due_in_days, share in DEMO_COMPLIANCE:
        course = db_session.scalar(select(Course).where(Course.code == course_code))
        grade = db_session.scalar(select(Grade).where(Grade.code == grade_code))
        if course is None or grade is None or recorder is None:
            continue
        exists = db_session.scalar(select(AssignmentRule.id).where(
            AssignmentRule.course_id == course.id, AssignmentRule.grade_id == grade.id,
            AssignmentRule.fiscal_year == fiscal_year))
        if exists is not None:
            continue
        due_on = business_days_before(current + timedelta(days=due_in_days), 0)
        departments = list(db_session.scalars(select(Unit).where(Unit.code == department_code)))
        rule, _changes = create_assignment_rule(recorder, course, grade, fiscal_year, due_on, departments)
        staff = list(db_session.scalars(select(Employee).join(Assignment, Assignment.employee_id == Employee.id)
                                        .where(Assignment.rule_id == rule.id,
                                               Assignment.status == AssignmentStatus.ACTIVE)
                                        .order_by(Employee.employee_number)))
        for index, employee in enumerate(staff):
            department = int(employee.unit.path.strip("/").split("/")[0]) if employee.unit else 0
            done_share = share + 8 * order.get(department, 0)  # so the departments differ on the chart
            if (index * 37) % 100 < done_share and employee.unit_id != not_yet \
                    and valid_completion(employee.id, course.id) is None:
                record_manual_completion(recorder, employee, course,
                                         business_days_before(current - timedelta(days=3 + index % 20), 0),
                                         course.hours, "demo")
    db_session.flush()
