"""A web meeting held last week whose participant list was imported (attendance by minutes): one
person present the whole time, one in three joins adding up to 120 of 150 minutes (present), one
in for 2 minutes (absent), a guest without an e-mail who is in fact the fourth participant (left
for HR or the instructor to match by hand) and an outside lecturer (not a participant). It
composes scheduling, enrolment and attendance, so it lives at the edge. Idempotent: a session
with its label exists once."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.attendance import participants
from app.catalog.models import Course
from app.core.business_days import business_days_before
from app.core.clock import TOKYO, now, today, tokyo_datetime
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.enrollment.services import enrol
from app.org.models import Employee, RoleGrant, RoleName, Unit
from app.scheduling.models import ApprovalPolicy, Meeting, TrainingSession
from app.scheduling.services import SessionDetails, schedule_session

COURSE = "ELEC-TELEWORK-2020"
LABEL = "第0回（オンライン・実施済み）"


def _staff(code: str, count: int) -> list[Employee]:
    unit = db_session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        return []
    return list(db_session.scalars(select(Employee).where(Employee.unit_id == unit.id, Employee.is_active)
                                   .order_by(Employee.employee_number).limit(count)))


def load_demo_web_meeting() -> None:
    course = db_session.scalar(select(Course).where(Course.code == COURSE))
    instructor = db_session.scalar(select(Employee).join(RoleGrant).where(RoleGrant.role == RoleName.INSTRUCTOR)
                                   .order_by(Employee.id))
    hr = db_session.scalar(select(Employee).join(RoleGrant).where(RoleGrant.role == RoleName.HR).order_by(Employee.id))
    people = [p for p in _staff("D0301", 6) if instructor is None or p.id != instructor.id][:4]
    if course is None or instructor is None or hr is None or len(people) < 4:
        return
    if db_session.scalar(select(TrainingSession.id).where(TrainingSession.course_id == course.id,
                                                          TrainingSession.label == LABEL)):
        return
    # Enrolment is for sessions that have not started: schedule it ahead, enrol, then move it to
    # last week (as if the demo had been running since).
    ahead = today() + timedelta(days=60)
    details = SessionDetails(label=LABEL, location="", online_url="https://meet.pref.example.lg.jp/r/telework-0",
                             capacity=10, enrolment_opens_at=tokyo_datetime(today(), 0, 0),
                             enrolment_closes_at=tokyo_datetime(ahead - timedelta(days=3), 17),
                             cancellation_deadline_at=tokyo_datetime(ahead - timedelta(days=2), 17),
                             approval_policy=ApprovalPolicy.NONE, notes="開始5分前までにWeb会議に接続してください。")
    training_session = schedule_session(hr, course, details, [(tokyo_datetime(ahead, 13, 30),
                                                               tokyo_datetime(ahead, 16, 0))], [instructor])
    enrolments = [enrol(hr, person, training_session, override_rules=True).enrolment for person in people]
    held = business_days_before(today() - timedelta(days=7), 0)  # a business day a week or so ago
    starts_at, ends_at = tokyo_datetime(held, 13, 30), tokyo_datetime(held, 16, 0)  # 150 minutes
    opened = starts_at - timedelta(days=21)
    db_session.execute(update(TrainingSession).where(TrainingSession.id == training_session.id).values(
        starts_at=starts_at, ends_at=ends_at, enrolment_opens_at=opened,
        enrolment_closes_at=tokyo_datetime(business_days_before(held, 3), 17),
        cancellation_deadline_at=tokyo_datetime(business_days_before(held, 2), 17)))
    db_session.execute(update(Meeting).where(Meeting.session_id == training_session.id).values(
        starts_at=starts_at, ends_at=ends_at))
    db_session.execute(update(Enrolment).where(Enrolment.id.in_([e.id for e in enrolments])).values(
        requested_at=opened + timedelta(days=1), confirmed_at=opened + timedelta(days=1)))
    db_session.expire_all()
    meeting = db_session.scalar(select(Meeting).where(Meeting.session_id == training_session.id))
    assert meeting is not None and now() > ends_at

    def at(minute: int) -> str:
        return (starts_at + timedelta(minutes=minute)).astimezone(TOKYO).strftime("%m/%d/%Y %I:%M:%S %p")

    full, three_joins, brief, guest = people
    rows = [(full.name, full.email, 0, 150),
            (three_joins.name, three_joins.email, 0, 50), (three_joins.name, three_joins.email, 60, 100),
            (f"{three_joins.name} (iPhone)", three_joins.email, 110, 140),
            (brief.name, brief.email, 0, 2),
            (f"{guest.name.split()[0]}（自宅PC）", "", 5, 150),
            ("外部講師 山田", "yamada@consulting.example.com", 0, 150)]
    lines = ["Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest"]
    lines += [f"{name},{email},{at(a)},{at(b)},{b - a},{'Yes' if not email else 'No'}" for name, email, a, b in rows]
    participant_import = participants.upload(instructor, meeting, "\n".join(lines).encode(),
                                             "participants_telework.csv")
    participants.apply(instructor, participant_import)
    db_session.flush()
