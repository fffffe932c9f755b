"""Daily and weekly sweeps that queue assignment reminders and managers' digests.

Each queued row has a dedupe key naming its cause and period (the ISO week for weekly notices),
so running a sweep twice, or from two schedulers, queues nothing twice.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from app.catalog.models import Assignment, AssignmentStatus
from app.cohorts.models import Application, Decision, Milestone, Submission, TeamMember
from app.completion.models import Completion
from app.completion.services import assignment_done, check_rule, evaluate_enrolment, latest_completed_on_many
from app.core.clock import TOKYO
from app.core.db import db_session
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState, is_active_place
from app.org.models import Employee, Unit
from app.org.queries import managers_of
from app.reminders.services import queue, queue_or_merge
from app.scheduling.models import SessionStatus, TrainingSession

NOT_ENROLLED_WINDOW = timedelta(days=30)
DUE_SOON_WINDOW = timedelta(days=7)


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def scan_assignments(at: datetime) -> int:
    """Queue "not yet enrolled", "due soon" and weekly "overdue" notices (each person's own), and
    each head's weekly list of their team's overdue training."""
    today = at.astimezone(TOKYO).date()
    rows = db_session.execute(
        select(Assignment.id, Assignment.employee_id, Assignment.course_id, Assignment.due_on, Assignment.opens_on)
        .join(Employee, Assignment.employee_id == Employee.id)
        .where(Assignment.status == AssignmentStatus.ACTIVE, Employee.is_active.is_(True),
               Assignment.due_on <= today + NOT_ENROLLED_WINDOW)).all()
    if not rows:
        return 0
    employee_ids = list({r.employee_id for r in rows})
    completed = latest_completed_on_many(employee_ids)
    live = set(db_session.execute(select(Enrolment.employee_id, Enrolment.course_id).where(
        Enrolment.employee_id.in_(employee_ids), is_active_place())).all())
    overdue: dict[int, list[int]] = {}  # employee id -> their overdue assignments, for their head's list
    queued = 0
    for row in rows:
        if assignment_done(row.opens_on, completed.get((row.employee_id, row.course_id))):
            continue
        context = {"assignment_id": row.id}
        if today <= row.due_on:
            if (row.employee_id, row.course_id) not in live:
                queued += bool(queue(row.employee_id, "assignment_not_enrolled",
                                     f"assign:{row.id}:not_enrolled", context))
            if today >= row.due_on - DUE_SOON_WINDOW:
                queued += bool(queue(row.employee_id, "assignment_due_soon", f"assign:{row.id}:due_soon", context))
            continue
        week = _week(today)
        queued += bool(queue(row.employee_id, "assignment_overdue", f"assign:{row.id}:overdue:{week}", context))
        overdue.setdefault(row.employee_id, []).append(row.id)
    return queued + _queue_overdue_digests(overdue, _week(today))


def _queue_overdue_digests(overdue: dict[int, list[int]], week: str) -> int:
    """The heads' copy of the overdue notices: one list a week per head of everything overdue in
    their team (not one mail per item). A second sweep in the week adds what became overdue
    since to the list while it is unsent, and queues nothing twice."""
    managers = managers_of(overdue)
    by_head: dict[int, list[int]] = {}
    for employee_id, assignment_ids in overdue.items():
        head_id = managers.get(employee_id)
        if head_id is not None:
            by_head.setdefault(head_id, []).extend(assignment_ids)
    return sum(queue_or_merge(head_id, "overdue_team_digest", f"overdue-digest:{head_id}:{week}",
                              "assignment_ids", assignment_ids)
               for head_id, assignment_ids in sorted(by_head.items()))


def queue_manager_digests(at: datetime) -> int:
    """One weekly digest per unit head with something to report."""
    today = at.astimezone(TOKYO).date()
    week = _week(today)
    queued = 0
    heads = db_session.execute(select(Unit.head_id, Unit.path).where(Unit.head_id.is_not(None), Unit.is_active)).all()
    by_head: dict[int, list[str]] = {}
    for head_id, path in heads:
        if head_id is not None:  # filtered above; the column is nullable
            by_head.setdefault(head_id, []).append(path)
    for head_id, paths in by_head.items():
        in_subtree = select(Employee.id).join(Unit, Employee.unit_id == Unit.id).where(
            or_(*(Unit.path.startswith(p) for p in paths)), Employee.is_active.is_(True), Employee.id != head_id)
        pending = db_session.scalar(select(func.count()).select_from(Enrolment).where(
            Enrolment.state == EnrolmentState.PENDING, Enrolment.approval_stage == ApprovalStage.MANAGER,
            Enrolment.employee_id.in_(in_subtree))) or 0
        overdue = db_session.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.status == AssignmentStatus.ACTIVE, Assignment.due_on < today,
            Assignment.employee_id.in_(in_subtree))) or 0
        upcoming = db_session.scalar(select(func.count()).select_from(Enrolment).join(
            TrainingSession, Enrolment.session_id == TrainingSession.id).where(
            Enrolment.state == EnrolmentState.CONFIRMED, TrainingSession.status == SessionStatus.SCHEDULED,
            TrainingSession.starts_at >= at, TrainingSession.starts_at < at + timedelta(days=14),
            Enrolment.employee_id.in_(in_subtree))) or 0
        if pending or overdue or upcoming:
            queued += bool(queue(head_id, "manager_digest", f"digest:{head_id}:{week}",
                                 {"pending": pending, "overdue": overdue, "upcoming": upcoming}))
    return queued


def sweep_ended_sessions(at: datetime, lookback: timedelta = timedelta(days=3)) -> int:
    """After a session ends: evaluate completions once more (a safety net: every input already
    evaluated them at once, app/completion) and remind those with a quiz or survey still to do.
    Returns the number of reminders queued."""
    queued = 0
    enrolments = db_session.scalars(
        select(Enrolment).join(TrainingSession, Enrolment.session_id == TrainingSession.id).where(
            Enrolment.state == EnrolmentState.CONFIRMED, TrainingSession.status == SessionStatus.SCHEDULED,
            TrainingSession.ends_at <= at, TrainingSession.ends_at > at - lookback)
        .order_by(Enrolment.id)).all()  # the order evaluations lock enrolments in (app/completion)
    for enrolment in enrolments:
        if evaluate_enrolment(enrolment) is not None:
            continue
        check = check_rule(enrolment)
        if (check.quiz_required and not check.quiz_ok) or (check.survey_required and not check.survey_ok):
            todo = [item for item in check.todo() if item]
            queued += bool(queue(enrolment.employee_id, "followup_todo", f"followup:{enrolment.id}",
                                 {"enrolment_id": enrolment.id, "todo": "、".join(todo)}, enrolment_id=enrolment.id))
    return queued


def scan_milestones(at: datetime) -> int:
    """Milestones due within a week, or overdue, that a team (or person) has not submitted yet."""
    queued = 0
    stones = db_session.scalars(select(Milestone).where(Milestone.due_at <= at + timedelta(days=7),
                                                        Milestone.due_at > at - timedelta(days=28))).all()
    for milestone in stones:
        participants = db_session.scalars(select(Application.employee_id).where(
            Application.cohort_id == milestone.cohort_id, Application.decision == Decision.SELECTED,
            Application.is_withdrawn.is_(False))).all()
        team_of = dict(db_session.execute(select(TeamMember.employee_id, TeamMember.team_id).where(
            TeamMember.cohort_id == milestone.cohort_id)).all())
        submitted = db_session.execute(select(Submission.team_id, Submission.employee_id).where(
            Submission.milestone_id == milestone.id)).all()
        done_teams = {t for t, _e in submitted if t}
        done_people = {e for _t, e in submitted if e}
        stage = "overdue:" + _week(at.astimezone(TOKYO).date()) if milestone.due_at < at else "soon"
        for person in participants:
            if (milestone.per_team and team_of.get(person) in done_teams) or (
                    not milestone.per_team and person in done_people):
                continue
            queued += bool(queue(person, "cohort_milestone_due", f"milestone:{milestone.id}:{person}:{stage}",
                                 {"milestone_id": milestone.id}))
    return queued


EXPIRY_NOTICE_WINDOW = timedelta(days=30)


def scan_expiring_completions(at: datetime) -> int:
    """One notice per completion that expires within 30 days and has not been renewed by a later
    cycle: the person is asked to take the course again before it lapses."""
    today = at.astimezone(TOKYO).date()
    newer = aliased(Completion)
    rows = db_session.execute(
        select(Completion.id, Completion.employee_id)
        .join(Employee, Completion.employee_id == Employee.id)
        .where(Employee.is_active.is_(True), Completion.revoked_at.is_(None),
               Completion.valid_until >= today, Completion.valid_until <= today + EXPIRY_NOTICE_WINDOW,
               ~select(newer.id).where(newer.employee_id == Completion.employee_id,
                                       newer.course_id == Completion.course_id, newer.revoked_at.is_(None),
                                       newer.cycle > Completion.cycle).exists())).all()
    return sum(bool(queue(employee_id, "completion_expiring", f"expiry:{completion_id}:before",
                          {"completion_id": completion_id})) for completion_id, employee_id in rows)
