"""Demo sessions relative to today, so the demo always has something to enrol in: each on a
business day (never a weekend, a holiday or the year-end closure), its enrolment closing three and
its cancellations two business days before."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.catalog.models import Course, CourseKind, CourseStatus, Track
from app.core.business_days import business_day_on_or_after, business_days_before
from app.core.clock import now, today, tokyo_datetime
from app.core.db import db_session
from app.org.models import Employee, RoleGrant, RoleName
from app.scheduling.models import ApprovalPolicy, TrainingSession
from app.scheduling.services import SessionDetails, schedule_session

# code: [(days from today, label, room, online?, capacity, approval policy)]
DEMO_SESSIONS: dict[str, list[tuple[int, str, str, bool, int, ApprovalPolicy]]] = {
    "DX-SHUNIN-2020": [(10, "第1回（県庁講堂）", "県庁 講堂", False, 40, ApprovalPolicy.MANAGER),
                       (24, "第2回（オンライン）", "", True, 60, ApprovalPolicy.MANAGER)],
    "DX-KACHO-2020": [(12, "第1回（県庁 大会議室）", "県庁 大会議室", False, 30, ApprovalPolicy.NONE)],
    "ELEC-RPA-2020": [(17, "", "県庁 研修室A", False, 20, ApprovalPolicy.MANAGER)],
    "ELEC-TELEWORK-2020": [(8, "", "", True, 100, ApprovalPolicy.NONE)],
    "ELEC-WORKSTYLE-2020": [(31, "", "", True, 80, ApprovalPolicy.MANAGER_THEN_HR)],
    "ELEC-DATA-2020": [(20, "", "県庁 研修室B", False, 2, ApprovalPolicy.MANAGER)],
}


def load_demo_sessions() -> None:
    instructor = db_session.scalar(select(Employee).join(RoleGrant).where(RoleGrant.role == RoleName.INSTRUCTOR)
                                   .order_by(Employee.id))
    base = today()
    for code, plans in DEMO_SESSIONS.items():
        course = db_session.scalar(select(Course).where(Course.code == code, Course.status == CourseStatus.PUBLISHED,
                                                        Course.kind == CourseKind.COURSE))
        if course is None or course.track == Track.COHORT_PROGRAMME:
            continue
        if db_session.scalar(select(TrainingSession.id).where(TrainingSession.course_id == course.id,
                                                              TrainingSession.starts_at > now()).limit(1)):
            continue  # loaded already (the demo's past sessions of a course are not these)
        for days, label, room, online, capacity, policy in plans:
            day = business_day_on_or_after(base + timedelta(days=days))
            start, end = tokyo_datetime(day, 13, 30), tokyo_datetime(day, 16, 30)
            details = SessionDetails(
                label=label, location=room,
                online_url="https://meet.pref.example.lg.jp/r/" + code.lower() if online else None,
                capacity=capacity, enrolment_opens_at=tokyo_datetime(base - timedelta(days=7), 9, 0),
                enrolment_closes_at=tokyo_datetime(business_days_before(day, 3), 17, 0),
                cancellation_deadline_at=tokyo_datetime(business_days_before(day, 2), 17, 0),
                approval_policy=policy,
                notes="筆記用具をお持ちください。" if room else "開始5分前までにWeb会議に接続してください。",
            )
            schedule_session(None, course, details, [(start, end)], [instructor] if instructor else [])
    db_session.flush()
