"""Evaluating completion. A course completes when its rule holds: attendance at or above the
minimum, the quiz passed (when the course has a pass mark and a quiz), the survey answered (when
required). The rule is evaluated whenever one of those inputs changes — also after the fact, in
both directions: a completion whose rule no longer holds is revoked (kept as history).

At once: attendance, quiz and survey announce each change (app/attendance AttendanceChanged,
app/assessment QuizGraded and SurveyAnswered) and the subscribers below evaluate the enrolments
concerned in the same transaction, so the certificate exists as soon as the last input is in.
Attendance counts once it is secured (no meeting still to come can take it below the minimum),
so the end of the session is not an input to wait for. The after-session sweep
(app/reminders/scans.py) evaluates again as a safety net and then finds nothing to do.

Races: an evaluation first locks the enrolment's row (`lock_enrolment`), so two last inputs
arriving at once (the survey answered while an instructor grades the quiz) are evaluated one
after the other and the second sees the first's input; and the unique (person, course, cycle)
of completions not revoked is the last word should two evaluations still both record one."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from app.assessment.events import QuizGraded, SurveyAnswered
from app.assessment.quizzes import quiz_for_course, quiz_passed
from app.assessment.surveys import has_answered_course
from app.attendance.events import AttendanceChanged
from app.attendance.services import rates_of
from app.audit.services import record_event
from app.catalog.models import Assignment, AssignmentStatus, Course, CourseKind, CourseStatus, ProgrammeItem
from app.catalog.recurrence import valid_until
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
    rate, secured = rates_of(enrolment)
    attendance_ok = course.min_attendance_pct == 0 or (
        secured.percent is not None and secured.percent >= course.min_attendance_pct)
    quiz = quiz_for_course(course.id) if course.quiz_pass_mark is not None else None
    quiz_ok = quiz is None or quiz_passed(enrolment.id, quiz.id)
    survey_ok = True
    if course.survey_required:
        survey_ok = has_answered_course(course.id, enrolment.id)  # reads only: enrolment pages call this
    return RuleCheck(attendance_ok, rate.percent, quiz_ok, quiz is not None, survey_ok, course.survey_required)


def latest_completion(employee_id: int, course_id: int) -> Completion | None:
    """The person's latest cycle of the course that was not revoked, expired or not."""
    return db_session.scalar(select(Completion).where(Completion.employee_id == employee_id,
                                                      Completion.course_id == course_id,
                                                      Completion.revoked_at.is_(None))
                             .order_by(Completion.cycle.desc()).limit(1))


def valid_completion(employee_id: int, course_id: int) -> Completion | None:
    """The completion that counts today: the latest one, unless it has expired."""
    latest = latest_completion(employee_id, course_id)
    return latest if latest is not None and not latest.is_expired_on(today()) else None


def renewal_owed(completion: Completion) -> bool:
    """A later cycle is owed that this (still valid) completion does not answer: an active
    assignment of the course that opened after it was completed (app/catalog/recurrence.py)."""
    return db_session.scalar(select(Assignment.id).where(
        Assignment.employee_id == completion.employee_id, Assignment.course_id == completion.course_id,
        Assignment.status == AssignmentStatus.ACTIVE, Assignment.opens_on > completion.completed_on,
        Assignment.opens_on <= today()).limit(1)) is not None


def _record(employee_id: int, course: Course, source: CompletionSource, *, enrolment_id: int | None = None,
            completed_on: date | None = None, actor: Employee | None = None, note: str = "",
            hours: Decimal | None = None) -> Completion:
    """A new completion, as the next cycle after the person's latest one (kept as history); the
    unique (person, course, cycle) among those not revoked is the last word under a race."""
    latest = latest_completion(employee_id, course.id)
    completed_on = completed_on or today()
    completion = Completion(
        employee_id=employee_id, course_id=course.id, enrolment_id=enrolment_id, source=source,
        completed_on=completed_on, cycle=latest.cycle + 1 if latest is not None else 1,
        valid_until=valid_until(completed_on, course.valid_for_months),
        hours=hours if hours is not None else course.hours,
        certificate_code=new_code(current_app.config["SECRET_KEY"]), evidence_note=note, recorded_at=now(),
        recorded_by_id=actor.id if actor else None)
    try:
        with db_session.begin_nested():
            db_session.add(completion)
            db_session.flush()
    except IntegrityError:  # another transaction recorded this cycle first: theirs stands, once
        winner = latest_completion(employee_id, course.id)
        if winner is None or winner.cycle != completion.cycle:
            raise
        return winner
    record_event(actor, "completion.recorded", "completion", completion.id,
                 after={"employee_id": employee_id, "course": course.code, "source": source.value,
                        "completed_on": completion.completed_on.isoformat(), "cycle": completion.cycle,
                        "valid_until": completion.valid_until.isoformat() if completion.valid_until else None})
    return completion


def _revoke(completion: Completion, reason: str, actor: Employee | None = None) -> None:
    completion.revoked_at = now()
    completion.revoked_reason = reason[:300]
    record_event(actor, "completion.revoked", "completion", completion.id, summary=reason[:200])
    db_session.flush()


def evaluate_enrolment(enrolment: Enrolment) -> Completion | None:
    """Record or revoke the completion of the enrolment's course by its rule.

    A place earns at most one completion. A new take of a course whose completion expired, or
    for a later cycle that the current one does not answer, records the next cycle; the earlier
    cycles stay as they were."""
    if enrolment.course.kind == CourseKind.PROGRAMME:
        return None
    lock_enrolment(enrolment)
    latest = latest_completion(enrolment.employee_id, enrolment.course_id)
    if latest is not None and latest.enrolment_id == enrolment.id:
        if enrolment.state == EnrolmentState.CONFIRMED and check_rule(enrolment).met:
            return latest if not latest.is_expired_on(today()) else None
        _revoke(latest, "rule no longer met (attendance, quiz or survey corrected)")
        evaluate_programmes(enrolment.employee_id, enrolment.course_id)
        return None
    existing = latest if latest is not None and not latest.is_expired_on(today()) else None
    if existing is not None and (existing.source == CompletionSource.MANUAL or not renewal_owed(existing)):
        return existing
    if _earned_before(enrolment.id):
        return existing  # this place answered an earlier cycle: not a new take
    holds = enrolment.state == EnrolmentState.CONFIRMED and check_rule(enrolment).met
    if holds:
        completion = _record(enrolment.employee_id, enrolment.course, CompletionSource.RULE, enrolment_id=enrolment.id)
        evaluate_programmes(enrolment.employee_id, enrolment.course_id)
        return completion
    return existing


def lock_enrolment(enrolment: Enrolment) -> None:
    """Take the enrolment's row lock (held to commit; SQLite's writer lock already serialises) and
    read its state as committed now: evaluations of one enrolment run one after the other, and
    the later one reads every input the earlier one's transaction wrote. Several enrolments are
    evaluated in the order of their ids (`_evaluate_ids`, the sweep), so two never deadlock. It is
    FOR NO KEY UPDATE: the inputs' rows (marks, attempts, receipts) hold a key-share lock on the
    enrolment they reference, which a plain FOR UPDATE would wait for (two rosters saved at once
    would deadlock)."""
    db_session.scalars(select(Enrolment).where(Enrolment.id == enrolment.id).with_for_update(key_share=True)
                       .execution_options(populate_existing=True)).one()


def _earned_before(enrolment_id: int) -> bool:
    return db_session.scalar(select(Completion.id).where(Completion.enrolment_id == enrolment_id,
                                                         Completion.revoked_at.is_(None)).limit(1)) is not None


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


def record_self_paced_completion(employee_id: int, course: Course) -> Completion:
    """A course taken at one's own pace met its rule (app/elearning decides, once, by a guarded
    move of the person's progress): record the completion, unless one is already valid."""
    existing = valid_completion(employee_id, course.id)
    if existing is not None and not renewal_owed(existing):
        return existing
    completion = _record(employee_id, course, CompletionSource.RULE, note="e-learning")
    evaluate_programmes(employee_id, course.id)
    return completion


def record_manual_completion(actor: Employee, employee: Employee, course: Course, completed_on: date,
                             hours: Decimal, note: str) -> Completion:
    existing = valid_completion(employee.id, course.id)
    if existing is not None and not renewal_owed(existing):
        raise ValueError(_("%(name)s has already completed this course.", name=employee.name))
    completion = _record(employee.id, course, CompletionSource.MANUAL, completed_on=completed_on, actor=actor,
                         note=note, hours=hours)
    evaluate_programmes(employee.id, course.id)
    return completion


def completed_course_ids_many(employee_ids: list[int]) -> dict[int, set[int]]:
    """The courses each person has completed (not revoked), expired or not: prerequisites and the
    period reports count what was done then. What is owed now asks `latest_completed_on_many`."""
    grouped: dict[int, set[int]] = {}
    if not employee_ids:
        return grouped
    for employee_id, course_id in db_session.execute(select(Completion.employee_id, Completion.course_id).where(
            Completion.employee_id.in_(employee_ids), Completion.revoked_at.is_(None))):
        grouped.setdefault(employee_id, set()).add(course_id)
    return grouped


def latest_completed_on_many(employee_ids: list[int]) -> dict[tuple[int, int], date]:
    """(person, course) → the day of the latest current completion (not revoked, not expired):
    what an assignment cycle is checked against (`assignment_done`)."""
    latest: dict[tuple[int, int], date] = {}
    if not employee_ids:
        return latest
    for start in range(0, len(employee_ids), 500):
        for employee_id, course_id, completed_on in db_session.execute(
                select(Completion.employee_id, Completion.course_id, func.max(Completion.completed_on)).where(
                    Completion.employee_id.in_(employee_ids[start:start + 500]), current_completion())
                .group_by(Completion.employee_id, Completion.course_id)):
            latest[(employee_id, course_id)] = completed_on
    return latest


def current_completion(day: date | None = None) -> ColumnElement[bool]:
    """The SQL condition of a completion that counts on `day` (today): not revoked, not expired.
    Reports that count completions should use it too, so an expired certificate is not "done"."""
    day = day or today()
    return and_(Completion.revoked_at.is_(None),
                or_(Completion.valid_until.is_(None), Completion.valid_until >= day))


def assignment_done(opens_on: date | None, completed_on: date | None) -> bool:
    """Whether a cycle that opened on `opens_on` is answered by a current completion of `completed_on`."""
    return completed_on is not None and (opens_on is None or completed_on >= opens_on)


# --- event subscribers -----------------------------------------------------------------------


def _evaluate_ids(enrolment_ids: Iterable[int]) -> None:
    """Evaluate these enrolments now, in the order of their ids (each one locked in turn)."""
    for enrolment in db_session.scalars(select(Enrolment).where(Enrolment.id.in_(sorted(set(enrolment_ids))))
                                        .order_by(Enrolment.id)).all():
        evaluate_enrolment(enrolment)


def _on_attendance(event: AttendanceChanged) -> None:
    _evaluate_ids(event.enrolment_ids)


def _on_single(event: QuizGraded | SurveyAnswered) -> None:
    if event.enrolment_id is not None:  # None: a self-paced quiz, whose module app/elearning evaluates
        _evaluate_ids([event.enrolment_id])


def register_subscribers() -> None:
    subscribe(AttendanceChanged, _on_attendance)
    subscribe(QuizGraded, _on_single)
    subscribe(SurveyAnswered, _on_single)
