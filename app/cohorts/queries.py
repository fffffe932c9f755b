"""Reads of the cohort programme: the pages' lists, the selection screen, the progress board,
completion."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

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
from app.permissions import managed_unit_filter
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



# --- My learning: every milestone of the person's cohorts ----------------------------------------


@dataclass(frozen=True)
class MyMilestone:
    milestone: Milestone
    cohort: Cohort
    programme: Course
    status: str | None  # the latest version's ("submitted", "returned", "accepted"); None: nothing yet

    def is_overdue(self, at: datetime) -> bool:
        return self.status is None and self.milestone.due_at < at

    @property
    def is_open_to_submit(self) -> bool:
        """The work page takes a (new) version: nothing submitted yet, or returned for revision."""
        return self.status in (None, SubmissionStatus.RETURNED.value)


def _milestones_of_participant_statement() -> Select[*tuple[Any, ...]]:
    member = aliased(TeamMember)
    employee_id: BindParameter[int] = bindparam("employee_id")
    theirs = or_(and_(Milestone.per_team.is_(True), Submission.team_id == member.team_id),
                 and_(Milestone.per_team.is_(False), Submission.employee_id == employee_id))
    latest = (select(Submission.status).where(Submission.milestone_id == Milestone.id, theirs)
              .order_by(Submission.version.desc()).limit(1).scalar_subquery())
    return (select(Milestone, Cohort, Course, latest.label("status"))
            .join(Cohort, Milestone.cohort_id == Cohort.id).join(Course, Cohort.programme_id == Course.id)
            .join(Application, and_(Application.cohort_id == Milestone.cohort_id,
                                    Application.employee_id == employee_id))
            .outerjoin(member, and_(member.cohort_id == Milestone.cohort_id, member.employee_id == employee_id))
            .where(Application.decision == Decision.SELECTED, Application.is_withdrawn.is_(False))
            .order_by(Milestone.due_at, Milestone.id))


# Built once, the person as a parameter: My learning runs it on every view, and for most people
# (in no cohort) building the statement was most of its cost.
_MILESTONES_OF_PARTICIPANT = _milestones_of_participant_statement()


def milestones_of_participant(employee_id: int) -> list[MyMilestone]:
    """Every milestone of the cohorts the person takes part in (selected, not withdrawn), the
    earliest due first, with where their work stands: the latest version of their team's work
    for a team milestone, of their own otherwise (the work page's rule). One statement, however
    many cohorts and milestones."""
    rows = db_session.execute(_MILESTONES_OF_PARTICIPANT, {"employee_id": employee_id}).all()
    return [MyMilestone(row.Milestone, row.Cohort, row.Course,
                        None if row.status is None else SubmissionStatus(row.status).value) for row in rows]


# --- the home page: a few of each, with how many (one statement each) ----------------------------


@dataclass(frozen=True)
class MilestoneDue:
    milestone: Milestone
    cohort: Cohort
    is_returned: bool  # the latest work was returned for revision


def milestones_due_for(employee_id: int, limit: int) -> tuple[list[MilestoneDue], int]:
    """Milestones of the cohorts the person takes part in (selected, not withdrawn) with no work
    submitted or accepted yet, their team's for a team milestone, their own otherwise; the
    earliest due first: the first `limit` and how many."""
    member = aliased(TeamMember)
    theirs = or_(and_(Milestone.per_team.is_(True), Submission.team_id == member.team_id),
                 and_(Milestone.per_team.is_(False), Submission.employee_id == employee_id))
    work = select(Submission.id).where(Submission.milestone_id == Milestone.id, theirs)
    returned = work.where(Submission.status == SubmissionStatus.RETURNED).exists()
    rows = db_session.execute(
        select(Milestone, Cohort, returned.label("returned"), func.count().over().label("total"))
        .join(Cohort, Milestone.cohort_id == Cohort.id)
        .join(Application, and_(Application.cohort_id == Milestone.cohort_id, Application.employee_id == employee_id))
        .outerjoin(member, and_(member.cohort_id == Milestone.cohort_id, member.employee_id == employee_id))
        .where(Application.decision == Decision.SELECTED, Application.is_withdrawn.is_(False),
               ~work.where(Submission.status.in_((SubmissionStatus.SUBMITTED, SubmissionStatus.ACCEPTED))).exists())
        .order_by(Milestone.due_at, Milestone.id).limit(limit)).all()
    return ([MilestoneDue(row.Milestone, row.Cohort, bool(row.returned)) for row in rows],
            rows[0].total if rows else 0)


def endorsements_waiting(manager: Employee, limit: int) -> tuple[list[Application], int]:
    """Applications waiting for an endorsement from `manager`: pending, not withdrawn, of someone
    in the subtrees they head (`permissions.managed_unit_filter`; never their own), the oldest
    first, with the applicant and the cohort: the first `limit` and how many (one statement)."""
    rows = db_session.execute(
        select(Application, func.count().over().label("total"))
        .join(Employee, Application.employee_id == Employee.id)
        .where(Application.endorsement == Endorsement.PENDING, Application.is_withdrawn.is_(False),
               Employee.unit_id.in_(select(Unit.id).where(managed_unit_filter(manager))),
               Application.employee_id != manager.id)
        .options(contains_eager(Application.employee).lazyload(Employee.role_grants), joinedload(Application.cohort))
        .order_by(Application.created_at, Application.id).limit(limit)).unique().all()
    return [row.Application for row in rows], (rows[0].total if rows else 0)


@dataclass(frozen=True)
class WorkToReview:
    submission_id: int
    milestone_kind: str
    cohort_name: str
    team_name: str | None  # None: an individual milestone
    submitted_by: str
    submitted_at: datetime
    is_late: bool


def submissions_to_review(mentor_id: int, limit: int) -> tuple[list[WorkToReview], int]:
    """The latest work of the teams this person mentors (a team's, or one of its members' own)
    waiting for a review, the oldest first, with who submitted it: the first `limit` and how many
    (one statement). The same rule as `permissions.can_review_submission` for a mentor."""
    mentored = select(team_mentors.c.team_id).where(team_mentors.c.employee_id == mentor_id)
    in_mentored_team = (select(TeamMember.id).where(TeamMember.employee_id == Submission.employee_id,
                                                    TeamMember.cohort_id == Milestone.cohort_id,
                                                    TeamMember.team_id.in_(mentored)).exists())
    later = aliased(Submission)
    superseded = select(later.id).where(
        later.milestone_id == Submission.milestone_id, later.version > Submission.version,
        or_(later.team_id == Submission.team_id, later.employee_id == Submission.employee_id)).exists()
    submitter = aliased(Employee)
    rows = db_session.execute(
        select(Submission.id, Submission.submitted_at, Submission.is_late, Milestone.kind, Cohort.name.label("cohort"),
               FieldworkTeam.name.label("team"), submitter.name.label("submitter"),
               func.count().over().label("total"))
        .join(Milestone, Submission.milestone_id == Milestone.id).join(Cohort, Milestone.cohort_id == Cohort.id)
        .join(submitter, Submission.submitted_by_id == submitter.id)
        .outerjoin(FieldworkTeam, Submission.team_id == FieldworkTeam.id)
        .where(Submission.status == SubmissionStatus.SUBMITTED, ~superseded,
               or_(Submission.team_id.in_(mentored), in_mentored_team))
        .order_by(Submission.submitted_at, Submission.id).limit(limit)).all()
    return ([WorkToReview(row.id, row.kind.value, row.cohort, row.team, row.submitter, row.submitted_at, row.is_late)
             for row in rows], rows[0].total if rows else 0)


def endorsements_to_hand_over(*, employee_ids: Iterable[int] = (), approver_id: int | None = None,
                         unit_path: str | None = None) -> list[Application]:
    """Applications waiting for their head's endorsement: of these people, or (with `approver_id`)
    for that head, optionally only of people in the units under `unit_path`; with the applicant
    and the cohort (one statement). What a transfer or a change of head hands over."""
    ids = set(employee_ids)
    if not ids and approver_id is None:
        return []
    stmt = (select(Application).join(Cohort, Cohort.id == Application.cohort_id)
            .join(Employee, Application.employee_id == Employee.id)
            .where(Application.endorsement == Endorsement.PENDING, Application.is_withdrawn.is_(False),
                   Cohort.requires_endorsement.is_(True)))
    if ids:
        stmt = stmt.where(Application.employee_id.in_(ids))
    if approver_id is not None:
        stmt = stmt.where(Application.approver_id == approver_id)
    if unit_path is not None:
        stmt = stmt.join(Unit, Employee.unit_id == Unit.id).where(Unit.path.startswith(unit_path))
    return list(db_session.scalars(stmt.options(contains_eager(Application.employee),
                                                contains_eager(Application.cohort)).order_by(Application.id)))
