"""A session running on the day the demo is loaded, with check-in open: RPAと業務プロセス改善
(ELEC-RPA-2020) in 県庁 研修室A, taught by the demo instructor (today's roster and the check-in code
screen), with the demo employee and eleven staff of other departments holding confirmed places
(nobody has checked in yet).

Its one meeting starts at 9:00, or, when the demo is loaded later in the day (or in the small hours),
an hour before the hour it is loaded, and lasts the course's hours (ending by 23:59): check-in, open
from 30 minutes before the start until the end, is open when the demo has just been loaded, at
whatever hour.

On a closed day (a weekend, a holiday, 29 December to 3 January) it still takes place that day,
online (休日特別回): the demo always has check-in to try on the day it is loaded, and this is the
one session of the demo on a closed day (every other session, deadline and due date is on a
business day). Idempotent: one such session per day."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from app.attendance.services import CHECK_IN_OPENS_BEFORE
from app.catalog.models import Course, CourseStatus
from app.core.business_days import is_business_day
from app.core.clock import TOKYO, now, today
from app.core.db import db_session
from app.demo.organisation import demo_logins
from app.demo.past import SEED, has_place, record_place, schedule_in_advance, staff_for
from app.org.models import Employee, RoleGrant, RoleName
from app.scheduling.models import TrainingSession

COURSE = "ELEC-RPA-2020"
ROOM = "県庁 研修室A"
OTHERS = 11


def labels(day: date) -> tuple[str, str]:
    """The session's label on a business day, and on a closed day."""
    return f"{day.month}月{day.day}日開講（{ROOM}）", f"{day.month}月{day.day}日 休日特別回（オンライン）"


def today_meeting(at: datetime, hours: float) -> tuple[datetime, datetime]:
    """The meeting of the day of `at` (Tokyo), with check-in open at `at`: from 9:00, or from an hour
    before `at`'s hour when that is later (or when `at` is before 8:30, not before midnight), for
    `hours`, ending by 23:59 of that day."""
    local = at.astimezone(TOKYO)
    day = local.date()
    nine = datetime.combine(day, time(9), TOKYO)
    an_hour_before = max(local.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1),
                         datetime.combine(day, time(0), TOKYO))
    start = max(nine, an_hour_before) if local >= nine - CHECK_IN_OPENS_BEFORE else an_hour_before
    end = min(start + timedelta(minutes=round(hours * 60)), datetime.combine(day, time(23, 59), TOKYO))
    return start, end


def todays_session() -> TrainingSession | None:
    """The demo's session of today (whatever the hour it starts), if loaded."""
    current = today()
    return next((s for s in db_session.scalars(select(TrainingSession).join(Course).where(
        Course.code == COURSE, TrainingSession.label.in_(labels(current))))
        if s.starts_at.astimezone(TOKYO).date() == current), None)


def load_demo_today() -> None:
    course = db_session.scalar(select(Course).where(Course.code == COURSE, Course.status == CourseStatus.PUBLISHED))
    hr = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                           .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    instructor = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                                   .where(RoleGrant.role == RoleName.INSTRUCTOR).order_by(Employee.id).limit(1))
    employee_login = next((d.login for d in demo_logins() if d.role.startswith("employee")), None)
    employee = db_session.scalar(select(Employee).where(Employee.employee_number == employee_login))
    if course is None or hr is None or instructor is None or employee is None or todays_session() is not None:
        return
    open_day = is_business_day(today())
    start, end = today_meeting(now(), float(course.hours or 3))
    label, closed_day_label = labels(today())
    training_session = schedule_in_advance(
        hr, course, start, end, label=label if open_day else closed_day_label, location=ROOM if open_day else "",
        online_url=None if open_day else "https://meet.pref.example.lg.jp/r/elec-rpa-holiday", capacity=20,
        instructors=[instructor])
    people = [] if has_place(employee, course) else [employee]
    people += staff_for(course, ("SHUNIN", "SHUJI", "SHUSA"), OTHERS, set(), rng=random.Random(SEED + 200))
    for index, person in enumerate(people):
        record_place(training_session, person, training_session.enrolment_opens_at + timedelta(days=1, hours=index))
    db_session.flush()
