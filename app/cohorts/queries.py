"""Reads of the cohort programme: the pages' lists, the selection screen, the progress board,
completion."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.attendance.models import ATTENDED, AttendanceMark, AttendanceStatus
from app.catalog.models import Course, CourseKind, ProgrammeItem, Track
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    Endorsement,
    FieldworkTeam,
    Milestone,
    MilestoneKind,
    Submission,
    SubmissionStatus,
    TeamMember,
    team_mentors,
)
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee, Grade, Unit, UnitKind
from app.scheduling.models import TrainingSession

# --- the pages' lists ------------------------------------------------------------------------


def cohorts_by_opening() -> list[Cohort]:
    """Every cohort, the latest to open applications first (the programme's front page)."""
    return list(db_session.scalars(select(Cohort).order_by(Cohort.applications_open_at.desc())))


def cohorts_by_creation() -> list[Cohort]:
    """Every cohort, the latest opened by HR first (the management page)."""
    return list(db_session.scalars(select(Cohort).order_by(Cohort.created_at.desc())))


def applications_by_cohort(employee_id: int) -> dict[int, Application]:
    """This person's applications, by cohort id."""
    return {a.cohort_id: a for a in db_session.scalars(select(Application).where(
        Application.employee_id == employee_id))}


def application_of(cohort_id: int, employee_id: int) -> Application | None:
    return db_session.scalar(select(Application).where(Application.cohort_id == cohort_id,
                                                       Application.employee_id == employee_id))


def teams_mentored_by(employee_id: int) -> list[FieldworkTeam]:
    return list(db_session.scalars(select(FieldworkTeam).join(
        team_mentors, team_mentors.c.team_id == FieldworkTeam.id).where(team_mentors.c.employee_id == employee_id)))


def pending_endorsements() -> list[Application]:
    """Applications waiting for a manager's endorsement (the caller keeps those it may endorse)."""
    return list(db_session.scalars(select(Application).where(
        Application.endorsement == Endorsement.PENDING, Application.is_withdrawn.is_(False))))


def cohort_programmes() -> list[Course]:
    """The programmes a cohort can be opened for."""
    return list(db_session.scalars(select(Course).where(Course.kind == CourseKind.PROGRAMME,
                                                        Course.track == Track.COHORT_PROGRAMME)))


def departments() -> list[Unit]:
    return list(db_session.scalars(select(Unit).where(Unit.kind == UnitKind.DEPARTMENT).order_by(Unit.sort_order)))


def grades() -> list[Grade]:
    return list(db_session.scalars(select(Grade).order_by(Grade.rank)))


def unit_by_code(code: str) -> Unit | None:
    return db_session.scalar(select(Unit).where(Unit.code == code))


def employees_by_number(numbers: Iterable[str]) -> list[Employee]:
    return list(db_session.scalars(select(Employee).where(Employee.employee_number.in_(list(numbers)))))


def employees_by_id(ids: Iterable[int]) -> list[Employee]:
    """The employees with these ids that exist, in the order of `ids`."""
    wanted = list(ids)
    found = {e.id: e for e in db_session.scalars(select(Employee).where(Employee.id.in_(wanted)))} if wanted else {}
    return [found[i] for i in wanted if i in found]


def submission_history(stones: Iterable[Milestone], team: FieldworkTeam | None,
                       employee_id: int) -> dict[int, list[Submission]]:
    """For the work page: every version of each milestone's work, newest first; the team's for a
    milestone of one submission per team, the person's own otherwise."""
    return {m.id: list(db_session.scalars(select(Submission).where(
        Submission.milestone_id == m.id,
        (Submission.team_id == team.id) if (m.per_team and team) else (Submission.employee_id == employee_id))
        .order_by(Submission.version.desc()))) for m in stones}


# --- selection, teams, milestones --------------------------------------------------------------


def applications(cohort_id: int) -> list[Application]:
    return list(db_session.scalars(
        select(Application).where(Application.cohort_id == cohort_id)
        .options(joinedload(Application.employee), joinedload(Application.department))
        .order_by(Application.decision, Application.reserve_rank, Application.created_at)).unique())


def milestones(cohort_id: int) -> list[Milestone]:
    order = {k: i for i, k in enumerate(MilestoneKind)}
    return sorted(db_session.scalars(select(Milestone).where(Milestone.cohort_id == cohort_id)),
                  key=lambda m: order[m.kind])


def milestone_rubric(milestone: Milestone) -> list[dict[str, Any]]:
    """The criteria a submission for this milestone is graded by: the programme's rubric for its
    kind (empty when the programme has none for it)."""
    rubrics = db_session.scalar(select(Course.rubrics).join(Cohort, Cohort.programme_id == Course.id)
                                .where(Cohort.id == milestone.cohort_id)) or {}
    return list(rubrics.get(milestone.kind.value, []))


def rubrics_by_milestone(cohort: Cohort, stones: Iterable[Milestone]) -> dict[int, list[dict[str, Any]]]:
    """Each milestone's criteria (see `milestone_rubric`), from the cohort's programme already loaded."""
    rubrics = cohort.programme.rubrics or {}
    return {m.id: list(rubrics.get(m.kind.value, [])) for m in stones}


def teams(cohort_id: int) -> list[FieldworkTeam]:
    return list(db_session.scalars(select(FieldworkTeam).where(FieldworkTeam.cohort_id == cohort_id)
                                   .options(selectinload(FieldworkTeam.members).joinedload(TeamMember.employee),
                                            selectinload(FieldworkTeam.mentors),
                                            joinedload(FieldworkTeam.host_unit)).order_by(FieldworkTeam.name)))


def module_course_ids(cohort: Cohort) -> list[int]:
    return list(db_session.scalars(select(ProgrammeItem.course_id)
                                   .where(ProgrammeItem.programme_id == cohort.programme_id)))


@dataclass
class ParticipantProgress:
    application: Application
    team: FieldworkTeam | None
    attended: int = 0
    counted: int = 0
    milestone_status: dict[int, str] = field(default_factory=dict)  # milestone id -> status or "missing"
    milestone_submission: dict[int, int] = field(default_factory=dict)  # milestone id -> latest submission id
    presentation_percent: int | None = None

    @property
    def attendance_percent(self) -> int | None:
        return None if not self.counted else round(100 * self.attended / self.counted)


def progress_board(cohort: Cohort) -> tuple[list[ParticipantProgress], list[Milestone]]:
    """Each selected participant's attendance across the modules and each milestone's status,
    in a fixed number of statements."""
    selected = [a for a in applications(cohort.id) if a.decision == Decision.SELECTED and not a.is_withdrawn]
    people = {a.employee_id for a in selected}
    team_by_person: dict[int, FieldworkTeam] = {}
    for team in teams(cohort.id):
        for member in team.members:
            team_by_person[member.employee_id] = team
    modules = module_course_ids(cohort)
    enrolments = list(db_session.scalars(
        select(Enrolment).join(TrainingSession, Enrolment.session_id == TrainingSession.id).where(
            Enrolment.employee_id.in_(people), Enrolment.course_id.in_(modules), TrainingSession.cohort_only.is_(True),
            Enrolment.state == EnrolmentState.CONFIRMED)
        .options(joinedload(Enrolment.training_session).selectinload(TrainingSession.meetings)))) if people else []
    marks: dict[tuple[int, int], AttendanceMark] = {}
    if enrolments:
        for mark in db_session.scalars(select(AttendanceMark).where(
                AttendanceMark.enrolment_id.in_([e.id for e in enrolments]))):
            marks[(mark.enrolment_id, mark.meeting_id)] = mark
    stones = milestones(cohort.id)
    submissions = list(db_session.scalars(select(Submission).where(
        Submission.milestone_id.in_([m.id for m in stones])).options(selectinload(Submission.reviews))
        .order_by(Submission.version))) if stones else []
    latest: dict[tuple[int, int | None, int | None], Submission] = {}
    for submission in submissions:
        latest[(submission.milestone_id, submission.team_id, submission.employee_id)] = submission
    board = []
    current = now()
    for application in selected:
        row = ParticipantProgress(application, team_by_person.get(application.employee_id))
        for enrolment in (e for e in enrolments if e.employee_id == application.employee_id):
            for meeting in enrolment.training_session.meetings:
                marked = marks.get((enrolment.id, meeting.id))
                if marked is not None and marked.status == AttendanceStatus.EXCUSED:
                    continue
                if marked is None and meeting.ends_at > current:
                    continue
                row.counted += 1
                row.attended += int(marked is not None and marked.status in ATTENDED)
        for milestone in stones:
            key = (milestone.id, row.team.id if (milestone.per_team and row.team) else None,
                   None if milestone.per_team else application.employee_id)
            shown = latest.get(key)
            row.milestone_status[milestone.id] = "missing" if shown is None else shown.status.value
            if shown is not None:
                row.milestone_submission[milestone.id] = shown.id
            if milestone.kind == MilestoneKind.PRESENTATION and shown is not None:
                accepted = [r for r in shown.reviews if r.accepted and r.max_points]
                if accepted:
                    row.presentation_percent = round(100 * accepted[-1].points / accepted[-1].max_points)
        board.append(row)
    return board, stones


def completion_met(cohort: Cohort, row: ParticipantProgress) -> bool:
    """Minimum attendance across modules, every milestone accepted, the presentation at the bar
    (when it was graded by a rubric: a programme without a presentation rubric has no score to reach)."""
    attendance = row.attendance_percent
    return (attendance is not None and attendance >= cohort.min_attendance_pct
            and all(status == SubmissionStatus.ACCEPTED.value for status in row.milestone_status.values())
            and bool(row.milestone_status)
            and (row.presentation_percent is None or row.presentation_percent >= cohort.final_score_bar))

