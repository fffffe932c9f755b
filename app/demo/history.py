"""The grade training held so far this fiscal year (app/demo/past.py writes it as it happened):

- 主任級デジタル研修 (DX-SHUNIN-2020) nine and four weeks before the demo day, 課長級デジタル研修
  (DX-KACHO-2020) six weeks before, each on a business day, taught by the demo instructor, with
  staff of every department but デジタル推進局 (whose demo logins keep their own choices: the
  employee still enrols in 主任級デジタル研修, the manager's staff still ask for it);
- most attended, passed the quiz and answered the survey, so they completed, with a certificate dated
  the day the instructor graded their written answer; a few were absent, failed the quiz (one
  attempt left) or have not answered the survey, so the compliance view and the dashboard show
  every state;
- the instructor has not yet graded the written answers of the latest session's last few
  participants: they wait on /grading (and those people have not completed yet).

A session that would fall before this fiscal year began (the first weeks of April) is left out: the
grade training of the year starts in April. Idempotent: a session with its label is held once."""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from app.catalog.models import Course, CourseStatus
from app.core.business_days import business_day_on_or_after
from app.core.clock import today, tokyo_datetime
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.demo.past import SEED, hold, schedule_in_advance, staff_for, takes
from app.org.models import Employee, RoleGrant, RoleName
from app.scheduling.models import TrainingSession

# (course, grade, days before the demo day, room, participants, of whom the last N are not graded yet)
PAST_RUNS = (
    ("DX-SHUNIN-2020", "SHUNIN", 63, "県庁 講堂", 16, 0),
    ("DX-KACHO-2020", "KACHO", 42, "県庁 大会議室", 8, 0),
    ("DX-SHUNIN-2020", "SHUNIN", 28, "県庁 講堂", 12, 3),
)


def past_label(month: int, room: str) -> str:
    """"9月開講（県庁 講堂）": never the label of an upcoming session (those are 第1回, 第2回…)."""
    return f"{month}月開講（{room}）"


def load_demo_history() -> None:
    current = today()
    starts_on = fiscal_year_of(current).starts_on
    hr = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                           .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    instructor = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                                   .where(RoleGrant.role == RoleName.INSTRUCTOR).order_by(Employee.id).limit(1))
    if hr is None or instructor is None:
        return
    taken: set[int] = set()
    for index, (code, grade, days_before, room, count, ungraded) in enumerate(PAST_RUNS):
        course = db_session.scalar(select(Course).where(Course.code == code, Course.status == CourseStatus.PUBLISHED))
        day = business_day_on_or_after(current - timedelta(days=days_before))
        if course is None or day < starts_on + timedelta(days=7) or day >= current:
            continue
        label = past_label(day.month, room)
        if db_session.scalar(select(TrainingSession.id).where(TrainingSession.course_id == course.id,
                                                              TrainingSession.label == label)) is not None:
            continue
        rng = random.Random(SEED + index)
        people = staff_for(course, (grade,), count, taken, rng=rng)
        outcomes = takes(len(people), rng)
        for position in range(len(outcomes) - 1, -1, -1):  # the last few who passed: not graded yet
            if ungraded and outcomes[position].quiz == "pass":
                outcomes[position] = replace(outcomes[position], graded=False)
                ungraded -= 1
        training_session = schedule_in_advance(hr, course, tokyo_datetime(day, 13, 30), tokyo_datetime(day, 16, 30),
                                               label=label, location=room, capacity=max(40, count),
                                               instructors=[instructor])
        hold(training_session, list(zip(people, outcomes, strict=True)), instructor, rng)
    db_session.flush()
