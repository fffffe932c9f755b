"""The figures behind the HR dashboard and the half-year report, for a fiscal year or a half.

Each figure is one GROUP BY over (division, grade, course); departments are rolled up in Python
from the unit tree, so the work in the database stays one pass whatever the size of the data.
Everything returned is plain data (JSON-ready), so a published report can freeze it as is."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import and_, case, func, select

from app.assessment.models import QuizAttempt
from app.assessment.surveys import satisfaction_by_course
from app.attendance.models import ATTENDED, AttendanceMark, AttendanceStatus
from app.catalog.models import Course
from app.cohorts.labels import cohort_title
from app.cohorts.models import Application, Cohort, Decision, FieldworkTeam, Milestone, Submission, SubmissionStatus
from app.completion.models import Completion
from app.core.clock import TOKYO
from app.core.db import db_session
from app.core.fiscal import FiscalHalf, FiscalYear
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.labels import grade_label, unit_label
from app.org.models import Employee, Grade, Unit
from app.reports.models import CoursePlan
from app.scheduling.models import Meeting, SessionStatus, TrainingSession


@dataclass(frozen=True)
class Period:
    fiscal_year: int
    half: int | None  # None: the whole fiscal year

    @property
    def starts_on(self) -> date:
        return (FiscalHalf(self.fiscal_year, self.half).starts_on if self.half
                else FiscalYear(self.fiscal_year).starts_on)

    @property
    def ends_on(self) -> date:
        return FiscalHalf(self.fiscal_year, self.half).ends_on if self.half else FiscalYear(self.fiscal_year).ends_on

    @property
    def fiscal_half(self) -> FiscalHalf | None:
        return FiscalHalf(self.fiscal_year, self.half) if self.half else None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.starts_on, time(0), tzinfo=TOKYO)

    @property
    def end(self) -> datetime:  # exclusive
        from datetime import timedelta

        return datetime.combine(self.ends_on + timedelta(days=1), time(0), tzinfo=TOKYO)


def plan_of(halves: dict[int, int], half: int | None) -> int | None:
    """A course's plan for a half (1, 2) or the year (None), from its plans keyed by half (0 for the
    year). A half is compared only with its own plan, never with a share of the year's: training is
    seasonal (new staff in April, grade training in autumn), so half of the annual plan would show
    a course on plan at 180 % in 上期 and 20 % in 下期. The year falls back to the sum of both
    halves' plans when HR planned halves only."""
    if half:
        return halves.get(half)
    if 0 in halves:
        return halves[0]
    return halves[1] + halves[2] if 1 in halves and 2 in halves else None


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else round(100 * part / whole, 1)


def participation_rows(period: Period) -> list[Any]:
    """(unit, grade, course, participants, completed) for confirmed places in sessions of the period."""
    completion = and_(Completion.employee_id == Enrolment.employee_id, Completion.course_id == Enrolment.course_id,
                      Completion.revoked_at.is_(None))
    stmt = (select(Employee.unit_id, Employee.grade_id, Enrolment.course_id, func.count(Enrolment.id),
                   func.count(Completion.id))
            .select_from(Enrolment)
            .join(TrainingSession, Enrolment.session_id == TrainingSession.id)
            .join(Employee, Enrolment.employee_id == Employee.id)
            .outerjoin(Completion, completion)
            .where(Enrolment.state == EnrolmentState.CONFIRMED, TrainingSession.status == SessionStatus.SCHEDULED,
                   TrainingSession.starts_at >= period.start, TrainingSession.starts_at < period.end)
            .group_by(Employee.unit_id, Employee.grade_id, Enrolment.course_id))
    return list(db_session.execute(stmt))


def attendance_rows(period: Period) -> list[Any]:
    """(unit, grade, course, marked, attended) over the recorded marks of meetings in the period."""
    attended = func.sum(case((AttendanceMark.status.in_(ATTENDED), 1), else_=0))
    stmt = (select(Employee.unit_id, Employee.grade_id, Enrolment.course_id, func.count(AttendanceMark.id), attended)
            .select_from(AttendanceMark)
            .join(Meeting, AttendanceMark.meeting_id == Meeting.id)
            .join(Enrolment, AttendanceMark.enrolment_id == Enrolment.id)
            .join(Employee, Enrolment.employee_id == Employee.id)
            .where(Meeting.starts_at >= period.start, Meeting.starts_at < period.end,
                   AttendanceMark.status != AttendanceStatus.EXCUSED)
            .group_by(Employee.unit_id, Employee.grade_id, Enrolment.course_id))
    return list(db_session.execute(stmt))


def _departments() -> tuple[dict[int, Unit], dict[int, int]]:
    units = {u.id: u for u in db_session.scalars(select(Unit))}
    department_of = {}
    for unit in units.values():
        first = unit.path.strip("/").split("/")[0]
        department_of[unit.id] = int(first) if first else unit.id
    return units, department_of


def compute(period: Period, locale: str = "ja") -> dict[str, Any]:
    units, department_of = _departments()
    grades = {g.id: g for g in db_session.scalars(select(Grade))}
    courses = {c.id: c for c in db_session.scalars(select(Course))}
    plans_by_half: dict[int, dict[int, int]] = {}
    for plan in db_session.scalars(select(CoursePlan).where(CoursePlan.fiscal_year == period.fiscal_year)):
        plans_by_half.setdefault(plan.course_id, {})[plan.half] = plan.planned
    plans = {course_id: planned for course_id, halves in plans_by_half.items()
             if (planned := plan_of(halves, period.half)) is not None}

    def bucket() -> dict[str, int]:
        return {"participants": 0, "completed": 0, "marked": 0, "attended": 0}

    by_department: dict[int, dict[str, int]] = {}
    by_division: dict[int, dict[str, int]] = {}
    by_grade: dict[int, dict[str, int]] = {}
    by_course: dict[int, dict[str, int]] = {}
    totals = bucket()
    for unit_id, grade_id, course_id, participants, completed in participation_rows(period):
        for table, key in ((by_department, department_of.get(unit_id, 0)), (by_division, unit_id or 0),
                           (by_grade, grade_id or 0), (by_course, course_id)):
            row = table.get(key) or table.setdefault(key, bucket())  # no new dict for a known key
            row["participants"] += participants
            row["completed"] += completed
        totals["participants"] += participants
        totals["completed"] += completed
    for unit_id, grade_id, course_id, marked, attended in attendance_rows(period):
        for table, key in ((by_department, department_of.get(unit_id, 0)), (by_division, unit_id or 0),
                           (by_grade, grade_id or 0), (by_course, course_id)):
            row = table.get(key) or table.setdefault(key, bucket())  # no new dict for a known key
            row["marked"] += marked
            row["attended"] += int(attended or 0)
        totals["marked"] += marked
        totals["attended"] += int(attended or 0)

    def finish(key: Any, label: str, row: dict[str, int], **extra: Any) -> dict[str, Any]:
        return {"key": key, "label": label, **row, "completion_rate": _rate(row["completed"], row["participants"]),
                "attendance_rate": _rate(row["attended"], row["marked"]), **extra}

    quiz = quiz_figures(period)
    satisfaction = satisfaction_figures(period)
    course_rows = []
    for course_id in sorted(set(by_course) | set(plans_by_half), key=lambda c: courses[c].code if c in courses else ""):
        course = courses.get(course_id)
        if course is None:
            continue
        row = by_course.get(course_id, bucket())
        planned = plans.get(course_id)
        annual = plan_of(plans_by_half.get(course_id, {}), None) if period.half else None
        course_rows.append(finish(course.code, course.title(locale), row, planned=planned, annual_planned=annual,
                                  achievement=_rate(row["participants"], planned) if planned else None,
                                  **quiz.get(course_id, {"quiz_attempts": 0, "quiz_pass_rate": None,
                                                         "quiz_average": None}),
                                  satisfaction=satisfaction.get(course_id, (None, 0))[0],
                                  satisfaction_responses=satisfaction.get(course_id, (None, 0))[1]))

    def unit_name(k: int) -> str:
        return unit_label(units[k], locale) if k in units else "-"

    department_rows = [finish(units[k].code if k in units else "-", unit_name(k), row)
                       for k, row in sorted(by_department.items(), key=lambda kv: units[kv[0]].sort_order
                                            if kv[0] in units else 0)]
    division_rows = [finish(units[k].code if k in units else "-", unit_name(k), row,
                            department=unit_label(units[department_of[k]], locale) if k in units else "-")
                     for k, row in sorted(by_division.items(), key=lambda kv: units[kv[0]].path
                                          if kv[0] in units else "")]
    grade_rows = [finish(grades[k].code if k in grades else "-",
                         grade_label(grades[k], locale) if k in grades else "-", row)
                  for k, row in sorted(by_grade.items(), key=lambda kv: grades[kv[0]].rank if kv[0] in grades else 99)]
    return {
        "period": {"fiscal_year": period.fiscal_year, "half": period.half,
                   "starts_on": period.starts_on.isoformat(), "ends_on": period.ends_on.isoformat()},
        "totals": finish("total", "", totals, planned=sum(plans.values()) or None),
        "by_department": department_rows,
        "by_division": division_rows,
        "by_grade": grade_rows,
        "by_course": course_rows,
        "cohorts": cohort_figures(period, locale),
    }


def quiz_figures(period: Period) -> dict[int, dict[str, Any]]:
    stmt = (select(Enrolment.course_id, func.count(QuizAttempt.id),
                   func.sum(case((QuizAttempt.passed.is_(True), 1), else_=0)), func.avg(QuizAttempt.percent))
            .join(Enrolment, QuizAttempt.enrolment_id == Enrolment.id)
            .where(QuizAttempt.submitted_at >= period.start, QuizAttempt.submitted_at < period.end)
            .group_by(Enrolment.course_id))
    return {course_id: {"quiz_attempts": count, "quiz_pass_rate": _rate(int(passed or 0), count),
                        "quiz_average": None if avg is None else round(float(avg), 1)}
            for course_id, count, passed, avg in db_session.execute(stmt)}


def satisfaction_figures(period: Period) -> dict[int, tuple[float, int]]:
    """Average of the first rating question (overall satisfaction) per course, 1–5, from survey
    answers released in the period, in whole groups of at least SURVEY_MIN_RESPONDENTS only."""
    return satisfaction_by_course(period.starts_on, period.ends_on)


def cohort_figures(period: Period, locale: str) -> list[dict[str, Any]]:
    """One row per cohort of the fiscal year, from a fixed number of grouped queries (not per cohort)."""
    from sqlalchemy.orm import joinedload

    cohorts = list(db_session.scalars(select(Cohort).where(Cohort.fiscal_year == period.fiscal_year)
                                      .options(joinedload(Cohort.programme)).order_by(Cohort.id)))
    ids = [c.id for c in cohorts]
    applications = {cohort_id: (applicants, int(selected or 0))
                    for cohort_id, applicants, selected in db_session.execute(
        select(Application.cohort_id, func.count(),
               func.sum(case((Application.decision == Decision.SELECTED, 1), else_=0)))
        .where(Application.cohort_id.in_(ids), Application.is_withdrawn.is_(False)).group_by(Application.cohort_id))}
    teams = dict(db_session.execute(select(FieldworkTeam.cohort_id, func.count()).where(
        FieldworkTeam.cohort_id.in_(ids)).group_by(FieldworkTeam.cohort_id)).all())
    milestones = dict(db_session.execute(select(Milestone.cohort_id, func.count()).where(
        Milestone.cohort_id.in_(ids)).group_by(Milestone.cohort_id)).all())
    accepted_of = dict(db_session.execute(select(Milestone.cohort_id, func.count(func.distinct(
        Submission.milestone_id * 100000 + func.coalesce(Submission.team_id, 0)))).join(
        Milestone, Submission.milestone_id == Milestone.id).where(
        Milestone.cohort_id.in_(ids), Submission.status == SubmissionStatus.ACCEPTED)
        .group_by(Milestone.cohort_id)).all())
    completed_of = dict(db_session.execute(select(Completion.course_id, func.count()).where(
        Completion.course_id.in_({c.programme_id for c in cohorts}), Completion.revoked_at.is_(None))
        .group_by(Completion.course_id)).all())
    rows = []
    for cohort in cohorts:
        applicants, selected = applications.get(cohort.id, (0, 0))
        team_count = teams.get(cohort.id, 0)
        due = milestones.get(cohort.id, 0) * team_count
        accepted = accepted_of.get(cohort.id, 0)
        rows.append({"key": cohort.id, "label": cohort_title(cohort, locale),
                     "quota": cohort.quota, "applicants": applicants, "selected": selected, "teams": team_count,
                     "milestones_accepted": accepted, "milestones_due": due,
                     "milestone_rate": _rate(accepted, due), "completed": completed_of.get(cohort.programme_id, 0)})
    return rows
