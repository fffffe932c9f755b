"""The demo's past, written through the same services as it happened, at the moment it happened.

The clock is moved (`app.core.clock.moved_to`) to each moment of a session that took place: it is
scheduled weeks ahead; at its end the instructor marks the roster; the participants take the quiz
and answer the survey just after; the instructor grades the written answers on the first business
day two days later.
So completion dates, certificates, quiz results, survey release days and the audit trail are the
ones a real year leaves, and the completion rule (attendance, quiz, survey) decides who completed.

Places are written as a record of what happened (confirmed, no approval pending), not through
enrolment: enrolment refuses a session that has started, and would queue mail for the past."""
from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select

from app.assessment.models import Question, QuestionType, Quiz, QuizAttempt
from app.assessment.quizzes import grade_attempt, quiz_for_course, start_or_resume, submit
from app.assessment.surveys import answer as answer_survey
from app.assessment.surveys import ensure_survey
from app.attendance.events import AttendanceChanged
from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.catalog.models import Course
from app.completion.models import Completion
from app.core.business_days import business_day_on_or_after, business_days_before
from app.core.clock import TOKYO, moved_to, tokyo_datetime
from app.core.db import db_session
from app.core.events import emit
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState, is_active_place
from app.org.models import Employee, Grade, RoleGrant, Unit
from app.scheduling.models import ApprovalPolicy, TrainingSession
from app.scheduling.services import SessionDetails, schedule_session

SEED = 2020  # every random choice of the demo's past comes from Random(SEED + something fixed)
OWN_DEPARTMENT = "D02"  # デジタル推進局: the demo's own logins work here, and keep their own choices


@dataclass(frozen=True)
class Take:
    """What one participant did: attended (or not), the quiz ("pass", "fail" or "none": did not
    take it), the survey, and whether the instructor has graded their written answer yet."""

    present: bool = True
    quiz: Literal["pass", "fail", "none"] = "pass"
    survey: bool = True
    graded: bool = True


ABSENT = Take(present=False, quiz="none", survey=False)


def takes(count: int, rng: random.Random, *, absent: float = 0.06, failed: float = 0.08,
          no_survey: float = 0.08) -> list[Take]:
    """`count` participants' takes: most attended, passed and answered; a few did not."""
    result = []
    for _ in range(count):
        roll = rng.random()
        if roll < absent:
            result.append(ABSENT)
        elif roll < absent + failed:
            result.append(Take(quiz="fail"))
        elif roll < absent + failed + no_survey:
            result.append(Take(survey=False))
        else:
            result.append(Take())
    return result


def staff_for(course: Course, grade_codes: Iterable[str], count: int, taken: set[int], *,
              department_path: str | None = None, rng: random.Random | None = None,
              not_completed: bool = False) -> list[Employee]:
    """`count` active staff of the grades (optionally of one department), without a role, outside the
    demo's own department, with no place in the course yet (nor, with `not_completed`, a completion
    of it), each used once (`taken`)."""
    if count <= 0:
        return []
    own = db_session.scalar(select(Unit.path).where(Unit.code == OWN_DEPARTMENT)) or "/-/"
    stmt = (select(Employee).join(Grade, Employee.grade_id == Grade.id).join(Unit, Employee.unit_id == Unit.id)
            .where(Grade.code.in_(list(grade_codes)), Employee.is_active.is_(True), ~Unit.path.startswith(own),
                   ~Employee.id.in_(select(RoleGrant.employee_id)),
                   ~Employee.id.in_(select(Enrolment.employee_id).where(Enrolment.course_id == course.id)))
            .order_by(Employee.employee_number))
    if department_path is not None:
        stmt = stmt.where(Unit.path.startswith(department_path))
    if not_completed:
        stmt = stmt.where(~Employee.id.in_(select(Completion.employee_id).where(
            Completion.course_id == course.id, Completion.revoked_at.is_(None))))
    people = [e for e in db_session.scalars(stmt) if e.id not in taken]
    if rng is not None:
        rng.shuffle(people)
    chosen = sorted(people[:count], key=lambda e: e.employee_number)
    taken.update(e.id for e in chosen)
    return chosen


def schedule_in_advance(actor: Employee | None, course: Course, start: datetime, end: datetime, *,
                          label: str = "", location: str = "", online_url: str | None = None, capacity: int = 40,
                          instructors: Iterable[Employee] = (), cohort_only: bool = False) -> TrainingSession:
    """A session from `start` to `end`, scheduled five weeks in advance, its enrolment closing three
    business days and cancellations two before its day."""
    day = start.astimezone(TOKYO).date()
    opened = tokyo_datetime(day - timedelta(days=35), 9)
    details = SessionDetails(label=label, location=location, online_url=online_url, capacity=capacity,
                             enrolment_opens_at=opened,
                             enrolment_closes_at=tokyo_datetime(business_days_before(day, 3), 17),
                             cancellation_deadline_at=tokyo_datetime(business_days_before(day, 2), 17),
                             approval_policy=ApprovalPolicy.NONE,
                             notes="筆記用具をお持ちください。" if location
                             else "開始5分前までにWeb会議に接続してください。")
    with moved_to(opened):
        return schedule_session(actor, course, details, [(start, end)], list(instructors), cohort_only=cohort_only)


def record_place(training_session: TrainingSession, person: Employee, at: datetime | None = None) -> Enrolment:
    """A confirmed place, as taken when enrolment was open (a record: no approval, no mail)."""
    at = at or training_session.enrolment_opens_at + timedelta(days=1)
    enrolment = Enrolment(session_id=training_session.id, course_id=training_session.course_id,
                          course_version=training_session.course.version, employee_id=person.id,
                          state=EnrolmentState.CONFIRMED, holds_seat=True, approval_stage=ApprovalStage.NOT_REQUIRED,
                          requested_at=at, confirmed_at=at)
    db_session.add(enrolment)
    db_session.flush()
    db_session.expire(training_session, ["seats_taken"])  # the database counts the seats (a trigger)
    return enrolment


def has_place(person: Employee, course: Course) -> bool:
    return db_session.scalar(select(Enrolment.id).where(
        Enrolment.employee_id == person.id, Enrolment.course_id == course.id, is_active_place()).limit(1)) is not None


def _response(question: Question, correct: bool) -> Any:
    """What the quiz form would send for the question: the right answer, or a wrong one."""
    if question.type == QuestionType.SINGLE:
        choice = int(question.answer)
        return str(choice if correct else (choice + 1) % len(question.choices))
    if question.type == QuestionType.MULTIPLE:
        right = sorted(int(i) for i in question.answer)
        wrong = right[:-1] if len(right) > 1 else [(right[0] + 1) % len(question.choices)]
        return [str(i) for i in (right if correct else wrong)]
    if question.type == QuestionType.TRUE_FALSE:
        return "true" if bool(question.answer) == correct else "false"
    return ("定型の集計作業をRPAで自動化し、転記の手間と誤りを減らします。" if correct else "")  # short


def _take_quiz(person: Employee, enrolment: Enrolment, quiz: Quiz, passing: bool) -> QuizAttempt:
    attempt = start_or_resume(person, enrolment, quiz)
    wrong = 0
    responses: dict[int, Any] = {}
    for question in quiz.questions:
        # A failing attempt misses the questions worth the most (and leaves the written one blank).
        correct = passing or (question.type not in (QuestionType.MULTIPLE, QuestionType.SHORT) and wrong >= 1)
        if not correct and question.type != QuestionType.SHORT:
            wrong += 1
        responses[question.id] = _response(question, correct)
    return submit(attempt, responses)


def hold(training_session: TrainingSession, participants: list[tuple[Employee, Take]],
         instructor: Employee | None, rng: random.Random) -> None:
    """What happened at and after the session (its places, marks, quizzes, surveys and grading)."""
    course = training_session.course
    meeting = training_session.meetings[0]
    places = [(record_place(training_session, person), person, take) for person, take in participants]
    quiz = quiz_for_course(course.id) if course.quiz_pass_mark is not None else None
    with moved_to(meeting.ends_at + timedelta(minutes=5)):
        for enrolment, _person, take in places:
            set_mark(instructor, enrolment, meeting, AttendanceStatus.PRESENT if take.present
                     else AttendanceStatus.ABSENT, announce=False)
        if quiz is None and not course.survey_required:  # attendance alone completes: evaluate now
            emit(AttendanceChanged(tuple(e.id for e, _p, _t in places)))
    survey = ensure_survey(course) if course.survey_required else None
    to_grade: list[tuple[QuizAttempt, Take]] = []
    for index, (enrolment, person, take) in enumerate(places):
        if quiz is not None and take.quiz != "none":
            with moved_to(meeting.ends_at + timedelta(minutes=10 + index)):
                attempt = _take_quiz(person, enrolment, quiz, take.quiz == "pass")
            if attempt.needs_grading:
                to_grade.append((attempt, take))
        if survey is not None and take.survey:
            scores = [str(rng.choice((3, 4, 4, 4, 5, 5))) for _ in range(4)]
            with moved_to(meeting.ends_at + timedelta(minutes=30 + index)):
                answer_survey(person, enrolment, survey, {
                    "q1": scores[0], "q2": scores[1], "q3": scores[2], "q4": scores[3],
                    "q5": rng.choice(("実習が多く、すぐに業務で試せる内容でした。", "事例が具体的でわかりやすかった。",
                                      "")),
                    "q6": rng.choice(("演習の時間をもう少し長くしてほしい。", "", ""))})
    graded_now = [attempt for attempt, take in to_grade if take.graded]
    if instructor is not None and graded_now:
        graded_on = business_day_on_or_after(meeting.ends_at.astimezone(TOKYO).date() + timedelta(days=2))
        with moved_to(tokyo_datetime(graded_on, 10)):
            for attempt in graded_now:
                grade_attempt(instructor, attempt, {
                    a.id: (a.question.points, "具体的で、効果まで書けています。", None)
                    for a in attempt.answers if a.points_awarded is None})
    db_session.flush()
