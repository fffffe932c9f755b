"""The demo's half-year report: the last half that is over, with three electives that took place
in it, plans per half, the report published by HR, and corrected once (a participant found
missing after publication). Sign in as HR and open 半期報告 for that half; its public version
shows the erratum notice, the link to the first version, 和暦 dates, and the small counts hidden
together with whatever would give them away. Idempotent: nothing happens once the half has a
report.

The sessions took place before the demo was loaded, so their places are written as a record of
what happened (confirmed, attended), not through enrolment, which refuses past sessions."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.catalog.models import Course, CourseStatus
from app.completion.services import record_manual_completion
from app.core.clock import TOKYO, today
from app.core.db import db_session
from app.core.fiscal import FiscalHalf, fiscal_half_of
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.org.models import Employee, Grade, RoleGrant, RoleName, Unit
from app.reports import figures as fig
from app.reports import transitions
from app.reports.models import CoursePlan
from app.scheduling.models import ApprovalPolicy, TrainingSession
from app.scheduling.services import SessionDetails, schedule_session

# course → (the month of the half it ran in (1-6), people per department in the demo's order;
# デジタル推進局, where the demo's own logins work, takes part in none)
DEMO_RUNS: dict[str, tuple[int, tuple[int, ...]]] = {
    "ELEC-TELEWORK-2020": (2, (6, 0, 5, 3, 4, 0, 2, 0)),
    "ELEC-WORKSTYLE-2020": (3, (4, 0, 3, 6, 0, 5, 0, 1)),
    "ELEC-RPA-2020": (5, (3, 0, 0, 2, 5, 0, 0, 6)),
}
GRADES = ("SHUNIN", "SHUJI", "SHUSA", "HOSA")  # eligible for all three
LATE_FOUND = ("ELEC-TELEWORK-2020", 6)  # the participant missing from the first version: course, department
CORRECTION_REASON = "Web会議・テレワーク実践の受講者1名の計上漏れを訂正"


def last_finished_half(day: date) -> FiscalHalf:
    current = fiscal_half_of(day)
    return FiscalHalf(current.year, 1) if current.half == 2 else FiscalHalf(current.year - 1, 2)


def load_demo_half_year_report() -> None:
    half = last_finished_half(today())
    hr = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                           .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    courses = {c.code: c for c in db_session.scalars(select(Course).where(
        Course.code.in_(DEMO_RUNS), Course.status == CourseStatus.PUBLISHED))}
    if hr is None or len(courses) != len(DEMO_RUNS) or transitions.latest_version(half.year, half.half):
        return
    departments = list(db_session.scalars(select(Unit).where(Unit.parent_id.is_(None), Unit.code.like("D%"))
                                          .order_by(Unit.sort_order, Unit.code)))
    taken: set[int] = set()
    late: tuple[Employee, TrainingSession] | None = None
    for code, (month, per_department) in DEMO_RUNS.items():
        course = courses[code]
        training_session = _past_session(course, half, month)
        for index, department in enumerate(departments):
            found_late = (code, index) == LATE_FOUND
            people = _staff(department, course, (per_department[index] if index < len(per_department) else 0)
                            + found_late, taken)
            if found_late and people:
                late, people = (people[-1], training_session), people[:-1]
            for i, person in enumerate(people):
                _took_part(hr, training_session, course, person, completed=i % 5 != 4)
        _plan(course, half, per_department)
    db_session.flush()

    period = fig.Period(half.year, half.half)
    report = transitions.ensure_draft(half.year, half.half)
    transitions.publish(report, hr, _NARRATIVE, fig.compute(period, "ja"))
    db_session.flush()
    if late is not None:  # a place found after publication: recorded, then the report corrected
        person, training_session = late
        _took_part(hr, training_session, courses[LATE_FOUND[0]], person, completed=True)
        db_session.flush()
        transitions.correct(report, hr, CORRECTION_REASON, _NARRATIVE, fig.compute(period, "ja"))
    db_session.flush()


_NARRATIVE = ("当期は、テレワーク・働き方改革・RPAの選択研修を実施しました。受講者数は全ての研修で期の計画を"
              "おおむね達成し、修了率も8割前後となりました。次期はデジタル推進局以外の部局への周知を強化します。")


def _past_session(course: Course, half: FiscalHalf, month: int) -> TrainingSession:
    first = half.starts_on
    day = date(first.year + (first.month + month - 2) // 12, (first.month + month - 2) % 12 + 1, 14)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 13, 30, tzinfo=TOKYO)
    details = SessionDetails(label="", location="県庁 研修室A", online_url=None, capacity=40,
                             enrolment_opens_at=start - timedelta(days=30),
                             enrolment_closes_at=start - timedelta(days=3),
                             cancellation_deadline_at=start - timedelta(days=2), approval_policy=ApprovalPolicy.NONE)
    return schedule_session(None, course, details, [(start, start + timedelta(hours=3))])


def _staff(department: Unit, course: Course, count: int, taken: set[int]) -> list[Employee]:
    """`count` staff of eligible grades in the department, without a role or a place in the course
    (the other demos enrol some), each used once."""
    if not count:
        return []
    people = [e for e in db_session.scalars(
        select(Employee).join(Grade, Employee.grade_id == Grade.id).join(Unit, Employee.unit_id == Unit.id)
        .where(Unit.path.startswith(department.path), Grade.code.in_(GRADES), Employee.is_active.is_(True),
               ~Employee.id.in_(select(RoleGrant.employee_id)),
               ~Employee.id.in_(select(Enrolment.employee_id).where(Enrolment.course_id == course.id)))
        .order_by(Employee.employee_number)) if e.id not in taken][:count]
    taken.update(e.id for e in people)
    return people


def _place(training_session: TrainingSession, course: Course, person: Employee) -> Enrolment:
    at = training_session.enrolment_opens_at + timedelta(days=1)
    enrolment = Enrolment(session_id=training_session.id, course_id=course.id, course_version=course.version,
                          employee_id=person.id, state=EnrolmentState.CONFIRMED, holds_seat=True,
                          approval_stage=ApprovalStage.NOT_REQUIRED, requested_at=at, confirmed_at=at)
    db_session.add(enrolment)
    db_session.flush()
    return enrolment


def _took_part(hr: Employee, training_session: TrainingSession, course: Course, person: Employee,
               completed: bool) -> None:
    """A confirmed place, its attendance mark and, when present, the completion."""
    enrolment = _place(training_session, course, person)
    meeting = training_session.meetings[0]
    set_mark(hr, enrolment, meeting, AttendanceStatus.PRESENT if completed else AttendanceStatus.ABSENT,
             announce=False)
    if completed:
        record_manual_completion(hr, person, course, meeting.starts_at.astimezone(TOKYO).date(),
                                 Decimal(str(course.hours or 1)), "研修記録から登録（デモ）")


def _plan(course: Course, half: FiscalHalf, per_department: tuple[int, ...]) -> None:
    held = sum(per_department)
    other = 2 if half.half == 1 else 1
    for plan_half, planned in ((half.half, held + 2), (other, held // 2), (0, held + 2 + held // 2)):
        exists = db_session.scalar(select(CoursePlan.id).where(CoursePlan.course_id == course.id,
                                                               CoursePlan.fiscal_year == half.year,
                                                               CoursePlan.half == plan_half))
        if exists is None:
            db_session.add(CoursePlan(course_id=course.id, fiscal_year=half.year, half=plan_half, planned=planned))

