"""Reads of the cohort programme: the selection screen, the progress board, completion."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.attendance.models import ATTENDED, AttendanceMark, AttendanceStatus
from app.catalog.models import ProgrammeItem
from app.core.clock import now
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    FieldworkTeam,
    Milestone,
    MilestoneKind,
    Submission,
    SubmissionStatus,
    TeamMember,
)
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.scheduling.models import TrainingSession


def applications(cohort_id: int) -> list[Application]:
    return list(db_session.scalars(
        select(Application).where(Application.cohort_id == cohort_id)
        .options(joinedload(Application.employee), joinedload(Application.department))
        .order_by(Application.decision, Application.reserve_rank, Application.created_at)).unique())


def milestones(cohort_id: int) -> list[Milestone]:
    order = {k: i for i, k in enumerate(MilestoneKind)}
    return sorted(db_session.scalars(select(Milestone).where(Milestone.cohort_id == cohort_id)),
                  key=lambda m: order[m.kind])


def teams(cohort_id: int) -> list[FieldworkTeam]:
    return list(db_session.scalars(select(FieldworkTeam).where(FieldworkTeam.cohort_id == cohort_id)
                                   .options(selectinload(FieldworkTeam.members).joinedload(TeamMember.employee),
                                            selectinload(FieldworkTeam.mentors),
                                            joinedload(FieldworkTeam.host_unit)).order_by(FieldworkTeam.name)))


def module_course_ids(cohort: Cohort) -> list[int]:
    return list(db_session.scalars(select(ProgrammeItem.course_id).where(ProgrammeItem.programme_id == cohort.programme_id)))


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
                mark = marks.get((enrolment.id, meeting.id))
                if mark is not None and mark.status == AttendanceStatus.EXCUSED:
                    continue
                if mark is None and meeting.ends_at > current:
                    continue
                row.counted += 1
                row.attended += int(mark is not None and mark.status in ATTENDED)
        for milestone in stones:
            key = (milestone.id, row.team.id if (milestone.per_team and row.team) else None,
                   None if milestone.per_team else application.employee_id)
            submission = latest.get(key)
            row.milestone_status[milestone.id] = "missing" if submission is None else submission.status.value
            if submission is not None:
                row.milestone_submission[milestone.id] = submission.id
            if milestone.kind == MilestoneKind.PRESENTATION and submission is not None:
                accepted = [r for r in submission.reviews if r.accepted and r.max_points]
                if accepted:
                    row.presentation_percent = round(100 * accepted[-1].points / accepted[-1].max_points)
        board.append(row)
    return board, stones


def completion_met(cohort: Cohort, row: ParticipantProgress) -> bool:
    """Minimum attendance across modules, every milestone accepted, the presentation at the bar."""
    attendance = row.attendance_percent
    return (attendance is not None and attendance >= cohort.min_attendance_pct
            and all(status == SubmissionStatus.ACCEPTED.value for status in row.milestone_status.values())
            and bool(row.milestone_status)
            and row.presentation_percent is not None and row.presentation_percent >= cohort.final_score_bar)

