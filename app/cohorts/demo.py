"""Demo cohorts of the smart-talent programme: one open for applications now, one at work whose
team's plan was graded by the programme's rubric."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.catalog.models import Course
from app.cohorts.models import Cohort, Decision, Milestone, MilestoneKind
from app.cohorts.services import (
    CohortSettings,
    apply,
    decide,
    form_team,
    open_cohort,
    publish_results,
    review,
    submit_work,
)
from app.core.clock import now
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.org.models import Employee, Grade, RoleGrant, RoleName, Unit


def load_demo_cohort() -> None:
    programme = db_session.scalar(select(Course).where(Course.code == "SMART-2020"))
    if programme is None or db_session.scalar(select(Cohort.id).where(Cohort.programme_id == programme.id)):
        return
    start = now().replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    settings = CohortSettings(
        name="第1期", fiscal_year=fiscal_year_of(start).year, applications_open_at=start,
        applications_close_at=start + timedelta(days=17), quota=12, requires_endorsement=True,
        questions=["所属で取り組みたい業務課題は何ですか。", "これまでのデジタル活用の経験を教えてください。"])
    grades = list(db_session.scalars(select(Grade).where(Grade.code.in_(("HOSA", "SHUSA", "SHUNIN")))))
    caps = dict.fromkeys(db_session.scalars(select(Unit).where(Unit.parent_id.is_(None))), 2)
    open_cohort(None, programme, settings, grades, caps)  # type: ignore[arg-type]
    db_session.flush()


# --- a cohort at work: a team's plan graded by the programme's rubric ---------------------------

TRIAL_NAME = "第0期（試行）"


def load_demo_fieldwork() -> None:
    """A cohort whose applications closed three weeks ago: the demo employee (D0204's 主任) and two
    colleagues form a team with the external mentor; their fieldwork plan was accepted and scored
    criterion by criterion against SMART-2020's rubric, and their interim report waits for the
    mentor's review (sign in as the mentor to score it). Idempotent."""
    programme = db_session.scalar(select(Course).where(Course.code == "SMART-2020"))
    mentor = db_session.scalar(select(Employee).where(Employee.employee_number == "EXT0001"))
    hr = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                           .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    if programme is None or mentor is None or hr is None or db_session.scalar(select(Cohort.id).where(
            Cohort.programme_id == programme.id, Cohort.name == TRIAL_NAME)) is not None:
        return
    members = _trial_members()
    if len(members) < 3:
        return
    start = now().replace(minute=0, second=0, microsecond=0)
    settings = CohortSettings(
        name=TRIAL_NAME, fiscal_year=fiscal_year_of(start).year, applications_open_at=start - timedelta(days=1),
        applications_close_at=start + timedelta(days=1), quota=6, requires_endorsement=False,
        questions=["所属で取り組みたい業務課題は何ですか。"])
    cohort = open_cohort(hr, programme, settings, [], {})
    for member in members:
        application = apply(member, cohort, "現場の課題をデータで解決したい。", "smart_government",
                            ["紙の申請の電子化"])
        decide(hr, application, Decision.SELECTED)
    # The intake happened in the past: applications closed three weeks ago; the plan is due soon.
    cohort.applications_open_at, cohort.applications_close_at = start - timedelta(days=40), start - timedelta(days=20)
    db_session.flush()
    publish_results(hr, cohort)
    host = db_session.scalar(select(Unit).where(Unit.code == "D0301")) or members[0].unit
    assert host is not None
    team = form_team(hr, cohort, "チーム電子申請", host, "smart_government",
                     "紙で受け付けている補助金申請の処理に時間がかかる", members, [mentor])
    stones = {m.kind: m for m in db_session.scalars(select(Milestone).where(Milestone.cohort_id == cohort.id))}
    uploads = Path(current_app.config["UPLOAD_DIR"])
    plan = submit_work(members[0], stones[MilestoneKind.PLAN], team,
                       "## 計画\n\n1. 申請件数と処理時間の把握（2週間）\n2. 受入所属へのヒアリング\n"
                       "3. 電子申請の試行", [], uploads)
    review(mentor, plan, True, {"0": 0, "1": 1, "2": 0},
           "課題の根拠が具体的です。受入所属との日程調整を早めに進めてください。")
    submit_work(members[1], stones[MilestoneKind.INTERIM], team,
                "## 中間報告\n\n申請1件あたりの処理時間は平均45分。押印の確認に時間がかかっている。", [], uploads)
    db_session.flush()


def _trial_members() -> list[Employee]:
    """The demo employee (the 主任 of D0204, as printed by `flask demo load`) and two colleagues."""
    eligible = select(Employee).join(Grade, Employee.grade_id == Grade.id).join(Unit, Employee.unit_id == Unit.id)
    first = db_session.scalar(eligible.where(Unit.code == "D0204", Grade.code == "SHUNIN").order_by(Employee.id))
    others = db_session.scalars(eligible.where(Unit.code.in_(("D0101", "D0301")), Grade.code.in_(("SHUSA", "HOSA")))
                                .order_by(Unit.code, Employee.id).limit(2))
    return [person for person in (first, *others) if person is not None]
