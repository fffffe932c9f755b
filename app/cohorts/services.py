"""Writes of the cohort programme: the checks a person is told about, then one move of
app/cohorts/transitions.py (where the state machines are drawn). The database keeps the quota
and the department caps: the counters follow the selected rows, so two HR users selecting at
once can never exceed them, and a withdrawal that runs twice frees a place once."""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.attendance.events import AttendanceChanged
from app.audit.services import record_event
from app.catalog.models import Course, ProgrammeItem, Theme
from app.cohorts import transitions
from app.cohorts.events import ApplicationDecided, EndorsementRequested, SubmissionReviewed
from app.cohorts.handover import handed_over_notice, reroute_pending_endorsements
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    DepartmentCap,
    Endorsement,
    FieldworkTeam,
    Milestone,
    MilestoneKind,
    Review,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    TeamMember,
    rubric_digest,
)
from app.cohorts.queries import completion_met, milestone_rubric, progress_board
from app.cohorts.transitions import CohortError, Stale
from app.cohorts.uploads import CheckedFile
from app.completion.services import sync_programme_completion
from app.core.business_days import business_day_on_or_after
from app.core.clock import now, to_tokyo, tokyo_datetime
from app.core.db import db_session
from app.core.events import emit, subscribe
from app.core.text_safety import find_unsafe
from app.enrollment.models import Enrolment
from app.org.events import ApproversChanged
from app.org.models import Employee, Grade, Unit
from app.org.queries import managers_of
from app.permissions import (
    can_decide_application,
    can_endorse_application,
    can_endorse_application_now,
    can_review_submission,
    is_own_application,
    is_team_member,
)
from app.scheduling.models import TrainingSession
from app.web.locale import gettext as _

THEMES = (Theme.SMART_GOVERNMENT.value, Theme.SMART_WORKSTYLE.value, Theme.SMART_SOLUTIONS.value)


def department_of(employee: Employee) -> Unit | None:
    unit = employee.unit
    if unit is None:
        return None
    ids = [*unit.ancestor_ids(), unit.id]
    return db_session.get(Unit, ids[0])


# --- opening a cohort ------------------------------------------------------------------------


@dataclass
class CohortSettings:
    name: str
    fiscal_year: int
    applications_open_at: datetime
    applications_close_at: datetime
    quota: int
    requires_endorsement: bool
    questions: list[str]
    min_attendance_pct: int = 80
    final_score_bar: int = 60


def _safe_text(label: str, *values: str, multiline: bool = False, field: str | None = None) -> None:
    """People's text here reaches mail (names, themes, comments in notices) and exports: refuse
    control characters, NUL and bidi overrides at the edge (app/core/text_safety.py), naming the field."""
    for value in values:
        problem = find_unsafe(value, multiline=multiline)
        if problem is not None:
            raise CohortError(f"{label}: {problem.describe()}", field)


def open_cohort(actor: Employee, programme: Course, settings: CohortSettings, grades: Iterable[Grade],
                caps: dict[Unit, int]) -> Cohort:
    _safe_text(_("Name"), settings.name)
    _safe_text(_("Questions"), *settings.questions)
    if settings.applications_close_at <= settings.applications_open_at:
        raise CohortError(_("Applications must close after they open."))
    cohort = Cohort(programme_id=programme.id, selected_count=0, created_at=now(), **settings.__dict__)
    cohort.eligible_grades = list(grades)
    cohort.caps = [DepartmentCap(unit_id=unit.id, cap=cap, selected_count=0) for unit, cap in caps.items()]
    db_session.add(cohort)
    db_session.flush()
    record_event(actor, "cohorts.opened", "cohort", cohort.id,
                 after={"programme": programme.code, "quota": settings.quota, "name": settings.name})
    # The four milestones with default due dates after the intake (17:00 on a business day, never a
    # weekend, holiday or the year-end closure); HR adjusts them.
    closes_on = to_tokyo(settings.applications_close_at).date()
    for kind, days in ((MilestoneKind.PLAN, 30), (MilestoneKind.INTERIM, 90), (MilestoneKind.FINAL_REPORT, 150),
                       (MilestoneKind.PRESENTATION, 160)):
        due_on = business_day_on_or_after(closes_on + timedelta(days=days))
        db_session.add(Milestone(cohort_id=cohort.id, kind=kind, per_team=True, due_at=tokyo_datetime(due_on, 17)))
    db_session.flush()
    return cohort


# --- applications ----------------------------------------------------------------------------


def _window_open(cohort: Cohort, at: datetime | None = None) -> bool:
    at = at or now()
    return cohort.applications_open_at <= at < cohort.applications_close_at


def apply(employee: Employee, cohort: Cohort, statement: str, theme: str, answers: list[str]) -> Application:
    if not _window_open(cohort):
        raise CohortError(_("Applications are not open."))
    grades = {g.id for g in cohort.eligible_grades}
    if grades and employee.grade_id not in grades:
        raise CohortError(_("Your grade is not eligible for this cohort."))
    if theme not in THEMES:
        raise CohortError(_("Choose one of the three themes."))
    if not statement.strip():
        raise CohortError(_("Write your statement of motivation."))
    _safe_text(_("Statement"), statement, *answers, multiline=True)
    department = department_of(employee)
    application = Application(
        cohort_id=cohort.id, employee_id=employee.id, department_id=department.id if department else None,
        statement=statement.strip()[:4000], theme=theme, answers=[a.strip()[:2000] for a in answers],
        endorsement=Endorsement.PENDING if cohort.requires_endorsement else Endorsement.ENDORSED,
        decision=Decision.UNDECIDED, created_at=now(), updated_at=now())
    if cohort.requires_endorsement:
        application.approver_id = managers_of([employee.id]).get(employee.id)  # a transfer hands it on
    transitions.record_application(application, employee)
    if cohort.requires_endorsement:
        emit(EndorsementRequested(application.id))
    return application


def edit_application(employee: Employee, application: Application, statement: str, theme: str,
                     answers: list[str]) -> None:
    if not is_own_application(employee, application):
        raise CohortError(_("This application cannot be edited."))
    if application.is_withdrawn:
        raise Stale(_("Your application has been withdrawn; it can no longer be changed."))
    if not _window_open(application.cohort):
        raise CohortError(_("Applications are closed; the application can no longer be changed."))
    if theme not in THEMES:
        raise CohortError(_("Choose one of the three themes."))
    _safe_text(_("Statement"), statement, *answers, multiline=True)
    transitions.edit(application, employee, {"statement": statement.strip()[:4000], "theme": theme,
                                             "answers": [a.strip()[:2000] for a in answers]})


def withdraw_application(employee: Employee, application: Application) -> None:
    if not is_own_application(employee, application):
        raise CohortError(_("This application cannot be withdrawn."))
    if application.is_withdrawn:
        raise Stale(_("Your application has already been withdrawn."))
    if not _window_open(application.cohort):
        raise CohortError(_("Applications are closed. Ask HR to withdraw you."))
    transitions.withdraw(application, employee)


def may_endorse(manager: Employee, application: Application) -> bool:
    return can_endorse_application(manager, application.employee)


def _not_own_application(actor: Employee, application: Application) -> None:
    if not can_decide_application(actor, application.employee):
        raise CohortError(_("You cannot decide your own application; a colleague in HR decides it."))


def endorse(manager: Employee, application: Application, endorsed: bool, comment: str) -> None:
    if not can_endorse_application_now(manager, application.employee):
        raise CohortError(handed_over_notice(manager, application)
                          or _("Only the applicant's manager can endorse this application."))
    _safe_text(_("Comment"), comment, multiline=True)
    transitions.endorse(application, manager, endorsed, comment)


# --- selection -------------------------------------------------------------------------------


def decide(actor: Employee, application: Application, decision: Decision, *,
           expected: Decision | None = None) -> None:
    """Select, reserve (ranked), decline, or reset an application. `expected`: the decision the
    actor saw on the page (a change made meanwhile by someone else is not overwritten)."""
    _not_own_application(actor, application)
    transitions.decide(application, actor, decision, expected=expected)


def publish_results(actor: Employee, cohort: Cohort) -> int:
    if cohort.results_published_at is not None:
        raise Stale(_("The results have already been published."))
    if now() < cohort.applications_close_at:
        raise CohortError(_("Publish the results after applications close."))
    transitions.publish(cohort, actor)
    applications = db_session.scalars(select(Application).where(Application.cohort_id == cohort.id,
                                                                Application.is_withdrawn.is_(False))).all()
    for application in applications:
        emit(ApplicationDecided(application.id))
    record_event(actor, "cohorts.results_published", "cohort", cohort.id, after={"applicants": len(applications)})
    return len(applications)


def withdraw_participant(actor: Employee, application: Application, reason: str) -> Application | None:
    """HR records that a selected participant withdraws; returns the first reserve to offer the place to."""
    _not_own_application(actor, application)
    _safe_text(_("Reason"), reason)
    transitions.withdraw_participant(application, actor, reason)
    db_session.flush()
    return first_reserve(application.cohort)


def first_reserve(cohort: Cohort) -> Application | None:
    return db_session.scalar(select(Application).where(
        Application.cohort_id == cohort.id, Application.decision == Decision.RESERVE,
        Application.is_withdrawn.is_(False)).order_by(Application.reserve_rank))


def promote_reserve(actor: Employee, application: Application) -> None:
    """On HR's confirmation, the reserve takes the freed place (quota and caps still apply)."""
    _not_own_application(actor, application)
    if not application.is_withdrawn and application.decision not in (Decision.RESERVE, Decision.SELECTED):
        raise CohortError(_("Only a reserve can be promoted."))  # (withdrawn or selected meanwhile: Stale)
    transitions.decide(application, actor, Decision.SELECTED, expected=Decision.RESERVE)
    if application.cohort.results_published_at is not None:
        emit(ApplicationDecided(application.id))


def is_participant(employee_id: int, cohort_id: int) -> bool:
    return db_session.scalar(select(Application.id).where(
        Application.cohort_id == cohort_id, Application.employee_id == employee_id,
        Application.decision == Decision.SELECTED, Application.is_withdrawn.is_(False),
        )) is not None


# --- teams -----------------------------------------------------------------------------------


def form_team(actor: Employee, cohort: Cohort, name: str, host_unit: Unit, theme: str, problem: str,
              members: list[Employee], mentors: list[Employee]) -> FieldworkTeam:
    _safe_text(_("Team name"), name, field="name")
    _safe_text(_("Problem"), problem, multiline=True, field="problem")
    if theme not in THEMES:
        raise CohortError(_("Choose one of the three themes."), "theme")
    if not members:
        raise CohortError(_("A team needs at least one member."), "members")
    for member in members:
        if not is_participant(member.id, cohort.id):
            raise CohortError(_("%(name)s is not a selected participant.", name=member.name), "members")
    if not mentors:
        raise CohortError(_("A team needs at least one mentor."), "mentors")
    team = FieldworkTeam(cohort_id=cohort.id, name=name.strip()[:120], host_unit_id=host_unit.id, theme=theme,
                         problem=problem.strip())
    team.members = [TeamMember(cohort_id=cohort.id, employee_id=m.id) for m in members]
    team.mentors = list(mentors)
    try:
        with db_session.begin_nested():
            db_session.add(team)
            db_session.flush()
    except IntegrityError:
        raise CohortError(_("A member is already in another team, or the team name is taken."), "members") from None
    record_event(actor, "cohorts.team_formed", "fieldwork_team", team.id,
                 after={"members": [m.employee_number for m in members],
                        "mentors": [m.employee_number for m in mentors]})
    return team


def team_of(employee_id: int, cohort_id: int) -> FieldworkTeam | None:
    return db_session.scalar(select(FieldworkTeam).join(TeamMember, TeamMember.team_id == FieldworkTeam.id).where(
        TeamMember.cohort_id == cohort_id, TeamMember.employee_id == employee_id))


def set_milestone(actor: Employee, milestone: Milestone, due_at: datetime, per_team: bool) -> None:
    """HR moves a milestone's due date, or makes it one submission per team (or per person)."""
    milestone.due_at, milestone.per_team = due_at, per_team
    db_session.flush()


def save_abstract(actor: Employee, team: FieldworkTeam, text: str) -> None:
    """A member writes the team's final abstract for the showcase (Markdown, sanitised when shown)."""
    if not is_team_member(actor, team):
        raise CohortError(_("Only members of the team can change its abstract."))
    _safe_text(_("Final abstract (shown on the showcase)"), text, multiline=True)
    team.abstract = text.strip()[:5000]
    db_session.flush()


# --- submissions and reviews -----------------------------------------------------------------


def latest_submission(milestone: Milestone, team_id: int | None, employee_id: int | None) -> Submission | None:
    return db_session.scalar(select(Submission).where(
        Submission.milestone_id == milestone.id, Submission.team_id.is_(None) if team_id is None
        else Submission.team_id == team_id, Submission.employee_id.is_(None) if employee_id is None
        else Submission.employee_id == employee_id).order_by(Submission.version.desc()).limit(1))


def submit_work(actor: Employee, milestone: Milestone, team: FieldworkTeam | None, text: str,
                files: list[CheckedFile], upload_dir: Path) -> Submission:
    _safe_text(_("Text"), text, multiline=True)
    if milestone.per_team:
        if team is None or not is_team_member(actor, team):
            raise CohortError(_("Only members of the team can submit its work."))
        team_id, employee_id = team.id, None
    else:
        if not is_participant(actor.id, milestone.cohort_id):
            raise CohortError(_("Only participants can submit."))
        team_id, employee_id = None, actor.id
    previous = latest_submission(milestone, team_id, employee_id)
    if previous is not None and previous.status == SubmissionStatus.ACCEPTED:
        raise CohortError(_("This milestone has already been accepted."))
    if previous is not None and previous.status == SubmissionStatus.SUBMITTED:
        raise Stale(_("Version %(n)s is waiting for the mentor's review; a new version can follow "
                      "if it is returned.", n=previous.version))
    if not text.strip() and not files:
        raise CohortError(_("Write something or attach a file."))
    at = now()
    submission = Submission(milestone_id=milestone.id, team_id=team_id, employee_id=employee_id,
                            version=(previous.version + 1) if previous else 1, text=text.strip(),
                            submitted_by_id=actor.id, submitted_at=at, is_late=at > milestone.due_at,
                            status=SubmissionStatus.SUBMITTED)
    folder = upload_dir / "cohorts"
    folder.mkdir(parents=True, exist_ok=True)
    for checked in files:
        stored = secrets.token_hex(20)
        (folder / stored).write_bytes(checked.data)
        submission.files.append(SubmissionFile(original_name=checked.name, stored_name=stored,
                                               content_type=checked.content_type, size=len(checked.data)))
    try:  # two members submitting at once: the unique version decides
        transitions.record_submission(submission, actor)
    except Stale:
        for checked_file in submission.files:
            (folder / checked_file.stored_name).unlink(missing_ok=True)
        raise
    return submission


def rubric_points(rubric: list[dict[str, Any]], scores: dict[str, int]) -> tuple[int, int]:
    total = maximum = 0
    for index, criterion in enumerate(rubric):
        levels = criterion.get("levels", [])
        if not levels:
            continue
        maximum += max(int(level["points"]) for level in levels)
        chosen = scores.get(str(index))
        if chosen is None or not 0 <= chosen < len(levels):
            raise CohortError(_("Score every criterion: %(name)s.", name=criterion.get("name", index + 1)))
        total += int(levels[chosen]["points"])
    return total, maximum


def review(mentor: Employee, submission: Submission, accepted: bool, scores: dict[str, int], comment: str,
           *, rubric_seen: str | None = None) -> Review:
    """Accept or return a submission, scoring each criterion of its milestone's rubric (if it has
    one). `rubric_seen`: the digest of the rubric the form showed; a rubric changed meanwhile is Stale."""
    _safe_text(_("Comment"), comment, multiline=True)
    milestone = submission.milestone
    if not can_review_submission(mentor, submission):
        raise CohortError(_("Only the team's mentors can review this submission."))
    if submission.status != SubmissionStatus.SUBMITTED:
        raise Stale(_("This submission has already been reviewed."))
    latest = latest_submission(milestone, submission.team_id, submission.employee_id)
    if latest is None or latest.id != submission.id:
        raise Stale(_("A newer version has been submitted; review that one."))
    if not accepted and not comment.strip():
        raise CohortError(_("Say what to revise when returning a submission."))
    rubric = milestone_rubric(milestone)
    if rubric_seen is not None and rubric_seen != rubric_digest(rubric):
        raise Stale(_("The rubric of this milestone was changed while you were reviewing; "
                      "score the criteria again."))
    points, maximum = rubric_points(rubric, scores) if rubric else (0, 0)
    kept = {str(index): scores[str(index)] for index in range(len(rubric)) if str(index) in scores}
    result = Review(submission_id=submission.id, mentor_id=mentor.id, accepted=accepted, rubric=rubric,
                    scores=kept, points=points, max_points=maximum, comment=comment.strip(), created_at=now())
    transitions.review(submission, mentor, result)
    return result


# --- completion of the programme -------------------------------------------------------------


def evaluate_completions(cohort: Cohort) -> int:
    """Apply the cohort's completion rule to every participant; returns how many have completed."""
    board, _stones = progress_board(cohort)
    completed = 0
    for row in board:
        met = completion_met(cohort, row)
        sync_programme_completion(row.application.employee_id, cohort.programme, met)
        completed += int(met)
    return completed


def _on_reviewed(event: SubmissionReviewed) -> None:
    submission = db_session.get(Submission, event.submission_id)
    cohort = db_session.get(Cohort, submission.milestone.cohort_id) if submission is not None else None
    if cohort is not None:
        evaluate_completions(cohort)


def _on_attendance(event: AttendanceChanged) -> None:
    rows = db_session.execute(select(Enrolment.employee_id, Enrolment.course_id).join(
        TrainingSession, Enrolment.session_id == TrainingSession.id).where(
        Enrolment.id.in_(list(event.enrolment_ids)), TrainingSession.cohort_only.is_(True))).all()
    if not rows:
        return
    cohorts = db_session.scalars(select(Cohort).join(ProgrammeItem, ProgrammeItem.programme_id == Cohort.programme_id)
                                 .where(ProgrammeItem.course_id.in_({r.course_id for r in rows}))).unique().all()
    for cohort in cohorts:
        evaluate_completions(cohort)


def register_subscribers() -> None:
    subscribe(SubmissionReviewed, _on_reviewed)
    subscribe(AttendanceChanged, _on_attendance)
    subscribe(ApproversChanged, _on_approvers_changed)


def _on_approvers_changed(event: ApproversChanged) -> None:
    reroute_pending_endorsements(event)  # a transfer: applications to endorse go to the new head
