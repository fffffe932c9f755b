"""Evaluating completion. A course completes when its rule holds: attendance at or above the
minimum, the quiz passed (when the course has a pass mark and a quiz), the survey answered (when
required). The rule is evaluated whenever one of those inputs changes — also after the fact, in
both directions: a completion whose rule no longer holds is revoked (kept as history)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from app.assessment.events import QuizGraded, SurveyAnswered
from app.assessment.quizzes import quiz_for_course, quiz_passed
from app.assessment.surveys import has_answered_course
from app.attendance.events import AttendanceChanged
from app.attendance.services import rate_of
from app.audit.services import record_event
from app.catalog.models import Course, CourseKind, CourseStatus, ProgrammeItem
from app.completion.certificates import new_code
from app.completion.models import Completion, CompletionSource
from app.core.clock import now, today
from app.core.db import db_session
from app.core.events import subscribe
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee
from app.web.locale import gettext as _


@dataclass
class RuleCheck:
    attendance_ok: bool
    attendance_percent: int | None
    quiz_ok: bool
    quiz_required: bool
    survey_ok: bool
    survey_required: bool

    @property
    def met(self) -> bool:
        return self.attendance_ok and self.quiz_ok and self.survey_ok

    def todo(self) -> list[str]:
        items = []
        if self.quiz_required and not self.quiz_ok:
            items.append(_("pass the quiz"))
        if self.survey_required and not self.survey_ok:
            items.append(_("answer the survey"))
        if not self.attendance_ok:
            items.append(_("attendance"))
        return items


def check_rule(enrolment: Enrolment) -> RuleCheck:
    course = enrolment.course
    rate = rate_of(enrolment)
    session_over = enrolment.training_session.ends_at <= now()
    attendance_ok = (rate.percent is not None and rate.percent >= course.min_attendance_pct and session_over) or (
        course.min_attendance_pct == 0)
    quiz = quiz_for_course(course.id) if course.quiz_pass_mark is not None else None
    quiz_ok = quiz is None or quiz_passed(enrolment.id, quiz.id)
    survey_ok = True
    if course.survey_required:
        survey_ok = has_answered_course(course.id, enrolment.id)  # reads only: enrolment pages call this
    return RuleCheck(attendance_ok, rate.percent, quiz_ok, quiz is not None, survey_ok, course.survey_required)


def valid_completion(employee_id: int, course_id: int) -> Completion | None:
    return db_session.scalar(select(Completion).where(Completion.employee_id == employee_id,
                                                      Completion.course_id == course_id,
                                                      Completion.revoked_at.is_(None)))


def _record(employee_id: int, course: Course, source: CompletionSource, *, enrolment_id: int | None = None,
            completed_on: date | None = None, actor: Employee | None = None, note: str = "",
            hours: Decimal | None = None) -> Completion:
    completion = Completion(
        employee_id=employee_id, course_id=course.id, enrolment_id=enrolment_id, source=source,
        completed_on=completed_on or today(), hours=hours if hours is not None else course.hours,
        certificate_code=new_code(current_app.config["SECRET_KEY"]), evidence_note=note, recorded_at=now(),
        recorded_by_id=actor.id if actor else None)
    db_session.add(completion)
    db_session.flush()
    record_event(actor, "completion.recorded", "completion", completion.id,
                 after={"employee_id": employee_id, "course": course.code, "source": source.value,
                        "completed_on": completion.completed_on.isoformat()})
    return completion


def _revoke(completion: Completion, reason: str, actor: Employee | None = None) -> None:
    completion.revoked_at = now()
    completion.revoked_reason = reason[:300]
    record_event(actor, "completion.revoked", "completion", completion.id, summary=reason[:200])
    db_session.flush()


def evaluate_enrolment(enrolment: Enrolment) -> Completion | None:
    """Record or revoke the completion of the enrolment's course by its rule."""
    if enrolment.course.kind == CourseKind.PROGRAMME:
        return None
    existing = valid_completion(enrolment.employee_id, enrolment.course_id)
    if existing is not None and existing.source == CompletionSource.MANUAL:
        return existing
    holds = enrolment.state == EnrolmentState.CONFIRMED and check_rule(enrolment).met
    if holds and existing is None:
        completion = _record(enrolment.employee_id, enrolment.course, CompletionSource.RULE, enrolment_id=enrolment.id)
        evaluate_programmes(enrolment.employee_id, enrolment.course_id)
        return completion
    if not holds and existing is not None and existing.enrolment_id == enrolment.id:
        _revoke(existing, "rule no longer met (attendance, quiz or survey corrected)")
        evaluate_programmes(enrolment.employee_id, enrolment.course_id)
        return None
    return existing


def evaluate_programmes(employee_id: int, course_id: int) -> None:
    """Programmes complete by their own rule: every required course and N electives."""
    programmes = db_session.scalars(select(Course).join(ProgrammeItem, ProgrammeItem.programme_id == Course.id).where(
        ProgrammeItem.course_id == course_id, Course.kind == CourseKind.PROGRAMME,
        Course.status != CourseStatus.DRAFT)).all()
    for programme in programmes:
        if programme.track.value == "cohort_programme":
            continue  # cohorts complete by their milestones and presentation (the cohort domain)
        done = set(db_session.scalars(select(Completion.course_id).where(
            Completion.employee_id == employee_id, Completion.revoked_at.is_(None))))
        required = [i.course_id for i in programme.items if i.is_required]
        electives = [i.course_id for i in programme.items if not i.is_required]
        met = all(c in done for c in required) and sum(c in done for c in electives) >= programme.electives_required
        existing = valid_completion(employee_id, programme.id)
        if met and existing is None:
            _record(employee_id, programme, CompletionSource.PROGRAMME)
        elif not met and existing is not None and existing.source == CompletionSource.PROGRAMME:
            _revoke(existing, "a course of the programme is no longer complete")


def sync_programme_completion(employee_id: int, programme: Course, met: bool) -> Completion | None:
    """Record or revoke a cohort programme's completion, as decided by the cohort's own rule."""
    existing = valid_completion(employee_id, programme.id)
    if met and existing is None:
        return _record(employee_id, programme, CompletionSource.PROGRAMME)
    if not met and existing is not None and existing.source == CompletionSource.PROGRAMME:
        _revoke(existing, "the cohort's completion rule no longer holds")
        return None
    return existing


def record_manual_completion(actor: Employee, employee: Employee, course: Course, completed_on: date,
                             hours: Decimal, note: str) -> Completion:
    existing = valid_completion(employee.id, course.id)
    if existing is not None:
        raise ValueError(_("%(name)s has already completed this course.", name=employee.name))
    completion = _record(employee.id, course, CompletionSource.MANUAL, completed_on=completed_on, actor=actor,
                         note=note, hours=hours)
    evaluate_programmes(employee.id, course.id)
    return completion


def completed_course_ids_many(employee_ids: list[int]) -> dict[int, set[int]]:
    grouped: dict[int, set[int]] = {}
    if not employee_ids:
        return grouped
    for employee_id, course_id in db_session.execute(select(Completion.employee_id, Completion.course_id).where(
            Completion.employee_id.in_(employee_ids), Completion.revoked_at.is_(None))):
        grouped.setdefault(employee_id, set()).add(course_id)
    return grouped


# --- event subscribers -----------------------------------------------------------------------


def _evaluate_ids(enrolment_ids: Iterable[int]) -> None:
    for enrolment in db_session.scalars(select(Enrolment).where(Enrolment.id.in_(list(enrolment_ids)))):
        evaluate_enrolment(enrolment)


def _on_attendance(event: AttendanceChanged) -> None:
    _evaluate_ids(event.enrolment_ids)


def _on_single(event: QuizGraded | SurveyAnswered) -> None:
    _evaluate_ids([event.enrolment_id])


def register_subscribers() -> None:
    subscribe(AttendanceChanged, _on_attendance)
    subscribe(QuizGraded, _on_single)
    subscribe(SurveyAnswered, _on_single)
