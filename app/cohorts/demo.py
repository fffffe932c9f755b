"""Demo cohorts of the smart-talent programme, relative to the day the demo is loaded: one open for
applications now (with applications waiting for their managers' endorsement, one of them for the
demo manager), one midway through its fieldwork. Every deadline and due date is at 17:00 on a
business day (never a weekend, a holiday or the year-end closure)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.catalog.models import Course
from app.cohorts.models import Cohort, Decision, Milestone, MilestoneKind
from app.cohorts.services import (
    CohortSettings,
    apply,
    decide,
    endorse,
    form_team,
    open_cohort,
    publish_results,
    review,
    submit_work,
)
from app.core.business_days import business_day_on_or_after, business_days_before
from app.core.clock import moved_to, now, today, tokyo_datetime
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.org.models import Employee, Grade, RoleGrant, RoleName, Unit

QUESTIONS = ["所属で取り組みたい業務課題は何ですか。", "これまでのデジタル活用の経験を教えてください。"]


def deadline(day: date) -> datetime:
    """17:00 on `day`, or on the business day after it."""
    return tokyo_datetime(business_day_on_or_after(day), 17)


def _first(unit_code: str, grade_codes: tuple[str, ...]) -> Employee | None:
    return db_session.scalar(select(Employee).join(Grade, Employee.grade_id == Grade.id)
                             .join(Unit, Employee.unit_id == Unit.id)
                             .where(Unit.code == unit_code, Grade.code.in_(grade_codes), Employee.is_active.is_(True),
                                    ~Employee.id.in_(select(RoleGrant.employee_id)))
                             .order_by(Grade.rank.desc(), Employee.id))


def _set_due_dates(cohort: Cohort, due: dict[MilestoneKind, date]) -> dict[MilestoneKind, Milestone]:
    stones = {m.kind: m for m in db_session.scalars(select(Milestone).where(Milestone.cohort_id == cohort.id))}
    for kind, day in due.items():
        stones[kind].due_at = deadline(day)
    db_session.flush()
    return stones


# --- a cohort open for applications ---------------------------------------------------------------

# (division, grades, endorsed by their head?): the applicants so far. データ活用推進課's waits for
# the demo manager's endorsement.
APPLICANTS = (("D0204", ("HOSA",), False), ("D0301", ("SHUNIN",), True), ("D0402", ("SHUSA",), False))


def load_demo_cohort() -> None:
    """第1期: applications opened three days ago and close in two weeks; three people have applied."""
    programme = db_session.scalar(select(Course).where(Course.code == "SMART-2020"))
    if programme is None or db_session.scalar(select(Cohort.id).where(Cohort.programme_id == programme.id,
                                                                      Cohort.name == "第1期")):
        return
    current = today()
    opens_at = tokyo_datetime(current - timedelta(days=3), 9)
    closes_on = business_day_on_or_after(current + timedelta(days=14))
    closes_at = tokyo_datetime(closes_on, 17)
    settings = CohortSettings(
        name="第1期", fiscal_year=fiscal_year_of(current).year, applications_open_at=opens_at,
        applications_close_at=closes_at, quota=12, requires_endorsement=True, questions=QUESTIONS)
    grades = list(db_session.scalars(select(Grade).where(Grade.code.in_(("HOSA", "SHUSA", "SHUNIN")))))
    caps = dict.fromkeys(db_session.scalars(select(Unit).where(Unit.parent_id.is_(None))), 2)
    with moved_to(opens_at - timedelta(days=7)):
        cohort = open_cohort(None, programme, settings, grades, caps)  # type: ignore[arg-type]
    _set_due_dates(cohort, {MilestoneKind.PLAN: closes_on + timedelta(days=30),
                            MilestoneKind.INTERIM: closes_on + timedelta(days=90),
                            MilestoneKind.FINAL_REPORT: closes_on + timedelta(days=150),
                            MilestoneKind.PRESENTATION: closes_on + timedelta(days=160)})
    for index, (division, grade_codes, endorsed) in enumerate(APPLICANTS):
        person = _first(division, grade_codes)
        if person is None:
            continue
        with moved_to(opens_at + timedelta(days=1, hours=index)):
            application = apply(person, cohort, "窓口業務の待ち時間をデータで見える化し、業務改善につなげたい。",
                                ("smart_government", "smart_workstyle", "smart_solutions")[index % 3],
                                ["申請書類の確認作業の効率化", "Excelでの集計を担当しています。"])
            head = db_session.get(Employee, application.approver_id) if application.approver_id else None
        if endorsed and head is not None:
            with moved_to(opens_at + timedelta(days=2, hours=index)):
                endorse(head, application, True, "業務改善への意欲が高く、推薦します。")
    db_session.flush()


# --- a cohort at work: midway through its fieldwork --------------------------------------------

TRIAL_NAME = "第0期（試行）"


def load_demo_fieldwork() -> None:
    """第0期（試行）: applications closed about four months ago; six participants in two teams with the
    external mentor. Both teams' fieldwork plans were due eight weeks ago and were accepted, scored
    against SMART-2020's rubric (チーム窓口DX's after one revision). The interim report is due in
    about a week: チーム電子申請 (the demo employee's team) has not handed it in yet, チーム窓口DX
    handed theirs in on the previous business day and it waits for the mentor's review (sign in as
    the mentor to score it). The final report and the presentation come later. Idempotent."""
    programme = db_session.scalar(select(Course).where(Course.code == "SMART-2020"))
    mentor = db_session.scalar(select(Employee).where(Employee.employee_number == "EXT0001"))
    hr = db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                           .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))
    if programme is None or mentor is None or hr is None or db_session.scalar(select(Cohort.id).where(
            Cohort.programme_id == programme.id, Cohort.name == TRIAL_NAME)) is not None:
        return
    members = _trial_members()
    if len(members) < 6:
        return
    current = today()
    opens_at = tokyo_datetime(current - timedelta(days=140), 9)
    closes_at = deadline(current - timedelta(days=120))
    due = {MilestoneKind.PLAN: current - timedelta(days=56), MilestoneKind.INTERIM: current + timedelta(days=9),
           MilestoneKind.FINAL_REPORT: current + timedelta(days=70),
           MilestoneKind.PRESENTATION: current + timedelta(days=84)}
    settings = CohortSettings(
        name=TRIAL_NAME, fiscal_year=fiscal_year_of(closes_at).year, applications_open_at=opens_at,
        applications_close_at=closes_at, quota=6, requires_endorsement=False, questions=QUESTIONS[:1])
    with moved_to(opens_at):
        cohort = open_cohort(hr, programme, settings, [], {})
    stones = _set_due_dates(cohort, due)
    for index, member in enumerate(members):
        with moved_to(opens_at + timedelta(days=2, hours=index)):
            application = apply(member, cohort, "現場の課題をデータで解決したい。", "smart_government",
                                ["紙の申請の電子化"])
        with moved_to(closes_at + timedelta(days=3)):
            decide(hr, application, Decision.SELECTED)
    uploads = Path(current_app.config["UPLOAD_DIR"])
    with moved_to(closes_at + timedelta(days=7)):
        publish_results(hr, cohort)
        host_a = db_session.scalar(select(Unit).where(Unit.code == "D0301")) or members[0].unit
        host_b = db_session.scalar(select(Unit).where(Unit.code == "D0101")) or members[3].unit
        assert host_a is not None and host_b is not None
        team_a = form_team(hr, cohort, "チーム電子申請", host_a, "smart_government",
                           "紙で受け付けている補助金申請の処理に時間がかかる", members[:3], [mentor])
        team_b = form_team(hr, cohort, "チーム窓口DX", host_b, "smart_workstyle",
                           "窓口の待ち時間が長く、来庁者の満足度が低い", members[3:], [mentor])
    plan_day = business_day_on_or_after(due[MilestoneKind.PLAN])
    with moved_to(tokyo_datetime(business_days_before(plan_day, 3), 16)):
        plan_a = submit_work(members[0], stones[MilestoneKind.PLAN], team_a,
                             "## 計画\n\n1. 申請件数と処理時間の把握（2週間）\n2. 受入所属へのヒアリング\n"
                             "3. 電子申請の試行", [], uploads)
        plan_b = submit_work(members[3], stones[MilestoneKind.PLAN], team_b,
                             "## 計画\n\n窓口の混雑状況を調べ、予約制の導入を検討する。", [], uploads)
    with moved_to(tokyo_datetime(business_days_before(plan_day, 1), 11)):
        review(mentor, plan_a, True, {"0": 0, "1": 1, "2": 0},
               "課題の根拠が具体的です。受入所属との日程調整を早めに進めてください。")
        review(mentor, plan_b, False, {"0": 1, "1": 2, "2": 1},
               "混雑の測り方（時間帯・曜日）を具体的に書いてください。")
    resubmitted = business_day_on_or_after(plan_day + timedelta(days=1))
    with moved_to(tokyo_datetime(resubmitted, 10)):  # a day late
        plan_b2 = submit_work(members[4], stones[MilestoneKind.PLAN], team_b,
                              "## 計画（第2版）\n\n窓口の混雑を時間帯・曜日ごとに2週間計測し、"
                              "予約制の導入効果を試算する。", [], uploads)
    with moved_to(tokyo_datetime(business_day_on_or_after(resubmitted + timedelta(days=2)), 14)):
        review(mentor, plan_b2, True, {"0": 0, "1": 0, "2": 1}, "測り方が明確になりました。この計画で進めてください。")
    with moved_to(min(tokyo_datetime(business_days_before(current, 1), 15), now())):
        submit_work(members[5], stones[MilestoneKind.INTERIM], team_b,
                    "## 中間報告\n\n平日午前の待ち時間は平均28分。予約枠を設ければ半分程度に短縮できる見込み。",
                    [], uploads)
    db_session.flush()


def _trial_members() -> list[Employee]:
    """The demo employee (the 主任 of D0204, as printed by `flask demo load`) and two colleagues in
    one team; three staff of 総務課 and 企画課 in the other."""
    eligible = select(Employee).join(Grade, Employee.grade_id == Grade.id).join(Unit, Employee.unit_id == Unit.id)
    first = db_session.scalar(eligible.where(Unit.code == "D0204", Grade.code == "SHUNIN").order_by(Employee.id))
    others = db_session.scalars(eligible.where(Unit.code.in_(("D0101", "D0301")), Grade.code.in_(("SHUSA", "HOSA")),
                                               ~Employee.id.in_(select(RoleGrant.employee_id)))
                                .order_by(Unit.code, Employee.id).limit(5))
    return [person for person in (first, *others) if person is not None]
