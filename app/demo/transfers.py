"""The demo of a transfer that hands pending work on (issue 17): a 主査 of 情報政策課 (D0203) asked
to attend the RPA course, which needs their head's approval; HR then moved them to データ活用推進課
(D0204). The request now waits for D0204's head (the demo manager's login), who is told in one
notice; the old head's unsent "please approve" mail was withdrawn, and the audit trail shows the
hand-over. Idempotent."""
from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.catalog.models import Course
from app.core.clock import now, today
from app.core.db import db_session
from app.enrollment.models import Enrolment, is_active_place
from app.enrollment.services import EnrolmentError, enrol
from app.org.models import Employee, Grade, RoleGrant, RoleName, Unit
from app.org.services import transfer_employee
from app.scheduling.models import ApprovalPolicy, TrainingSession


def load_demo_transfer() -> None:
    if db_session.scalar(select(AuditEvent.id).where(AuditEvent.action == "org.employee_transferred").limit(1)):
        return
    source = db_session.scalar(select(Unit).where(Unit.code == "D0203"))
    target = db_session.scalar(select(Unit).where(Unit.code == "D0204"))
    course = db_session.scalar(select(Course).where(Course.code == "ELEC-RPA-2020"))
    hr = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                           .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    if source is None or target is None or course is None or hr is None:
        return
    person = db_session.scalar(select(Employee).join(Grade, Employee.grade_id == Grade.id).where(
        Employee.unit_id == source.id, Grade.code == "SHUSA", Employee.is_active.is_(True)).order_by(Employee.id))
    session = db_session.scalar(select(TrainingSession).where(  # the course's next session that needs approval
        TrainingSession.course_id == course.id, TrainingSession.starts_at > now(),
        TrainingSession.approval_policy == ApprovalPolicy.MANAGER).order_by(TrainingSession.starts_at))
    if person is None or session is None:
        return
    has_place = db_session.scalar(select(Enrolment.id).where(
        Enrolment.employee_id == person.id, Enrolment.course_id == course.id, is_active_place()))
    if has_place is None:
        try:
            enrol(person, person, session, override_rules=True)
        except EnrolmentError:
            return
    transfer_employee(hr, person, target, as_of=today())
    db_session.flush()
