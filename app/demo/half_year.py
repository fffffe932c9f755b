"""The demo's published half-year report: the last 上期 that is over — this fiscal year's when the demo
day is in 下期 (October to March), last fiscal year's when it is in 上期 (April to September), as
the assembly is told about each 上期 once it has ended.

In that half three electives took place (app/demo/past.py writes them as they happened, with their
attendance, surveys and the completions the rule gave), with plans per half, and the grade training
of the year when it fell in that half (app/demo/history.py). HR published the report two weeks
after the half ended and corrected it a week later (a participant found missing after publication).
Sign in as HR and open 半期報告 for that half; its public version shows the erratum notice, the link
to the first version, 和暦 dates, and the small counts hidden together with whatever would give them
away. Idempotent: nothing happens once the half has a report."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.catalog.models import Course, CourseStatus
from app.completion.services import record_manual_completion
from app.core.business_days import business_day_on_or_after
from app.core.clock import TOKYO, moved_to, now, today, tokyo_datetime
from app.core.db import db_session
from app.core.fiscal import FiscalHalf, fiscal_half_of
from app.demo.past import SEED, hold, record_place, schedule_in_advance, staff_for, takes
from app.org.models import Employee, RoleGrant, RoleName, Unit
from app.reports import figures as fig
from app.reports import transitions
from app.reports.models import CoursePlan
from app.scheduling.models import TrainingSession

# course → (the month of the half it ran in (1-6), people per department in the demo's order;
# デジタル推進局, where the demo's own logins work, takes part in none)
DEMO_RUNS: dict[str, tuple[int, tuple[int, ...]]] = {
    "ELEC-TELEWORK-2020": (2, (5, 0, 4, 2, 3, 0, 2, 0)),
    "ELEC-WORKSTYLE-2020": (3, (3, 0, 3, 4, 0, 4, 0, 1)),
    "ELEC-RPA-2020": (5, (3, 0, 0, 2, 4, 0, 0, 4)),
}
GRADES = ("SHUNIN", "SHUJI", "SHUSA", "HOSA")  # eligible for all three
LATE_FOUND = ("ELEC-TELEWORK-2020", 6)  # the participant missing from the first version: course, department
CORRECTION_REASON = "Web会議・テレワーク実践の受講者1名の計上漏れを訂正"


def last_ended_first_half(day: date) -> FiscalHalf:
    """The latest 上期 over by `day`: this fiscal year's in 下期, last year's in 上期."""
    current = fiscal_half_of(day)
    return FiscalHalf(current.year if current.half == 2 else current.year - 1, 1)


def load_demo_half_year_report() -> None:
    half = last_ended_first_half(today())
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
    for index, (code, (month, per_department)) in enumerate(DEMO_RUNS.items()):
        course = courses[code]
        rng = random.Random(SEED + 100 + index)
        people: list[Employee] = []
        late_person: Employee | None = None
        for position, department in enumerate(departments):
            found_late = (code, position) == LATE_FOUND
            wanted = (per_department[position] if position < len(per_department) else 0) + found_late
            staff = staff_for(course, GRADES, wanted, taken, department_path=department.path)
            if found_late and staff:
                late_person, staff = staff[-1], staff[:-1]
            people += staff
        day = _day_in(half, month)
        training_session = schedule_in_advance(hr, course, tokyo_datetime(day, 13, 30), tokyo_datetime(day, 16, 30),
                                               location="県庁 研修室A", capacity=40)
        if late_person is not None:
            late = (late_person, training_session)
        hold(training_session, list(zip(people, takes(len(people), rng, failed=0), strict=True)), hr, rng)
        _plan(course, half, per_department)
    db_session.flush()

    period = fig.Period(half.year, half.half)
    published_at = min(tokyo_datetime(business_day_on_or_after(half.ends_on + timedelta(days=14)), 10), now())
    with moved_to(published_at):
        report = transitions.ensure_draft(half.year, half.half)
        transitions.publish(report, hr, _NARRATIVE, fig.compute(period, "ja"))
        db_session.flush()
    if late is not None:  # a place found after publication: recorded, then the report corrected
        person, training_session = late
        meeting = training_session.meetings[0]
        with moved_to(min(published_at + timedelta(days=7), now())):
            enrolment = record_place(training_session, person)
            set_mark(hr, enrolment, meeting, AttendanceStatus.PRESENT, announce=False)
            course = courses[LATE_FOUND[0]]
            record_manual_completion(hr, person, course, meeting.starts_at.astimezone(TOKYO).date(),
                                     Decimal(str(course.hours or 1)), "研修記録から登録（デモ）")
            db_session.flush()
            transitions.correct(report, hr, CORRECTION_REASON, _NARRATIVE, fig.compute(period, "ja"))
    db_session.flush()


_NARRATIVE = ("当期は、テレワーク・働き方改革・RPAの選択研修を実施しました。受講者数は全ての研修で期の計画を"
              "おおむね達成し、修了率も8割を超えました。次期はデジタル推進局以外の部局への周知を強化します。")


def _day_in(half: FiscalHalf, month: int) -> date:
    """The business day on or after the 14th of the half's `month`-th month."""
    first = half.starts_on
    return business_day_on_or_after(date(first.year + (first.month + month - 2) // 12,
                                         (first.month + month - 2) % 12 + 1, 14))


def _plan(course: Course, half: FiscalHalf, per_department: tuple[int, ...]) -> None:
    held = sum(per_department)
    other = 2 if half.half == 1 else 1
    for plan_half, planned in ((half.half, held + 2), (other, held // 2), (0, held + 2 + held // 2)):
        exists = db_session.scalar(select(CoursePlan.id).where(CoursePlan.course_id == course.id,
                                                               CoursePlan.fiscal_year == half.year,
                                                               CoursePlan.half == plan_half))
        if exists is None:
            db_session.add(CoursePlan(course_id=course.id, fiscal_year=half.year, half=plan_half, planned=planned))
