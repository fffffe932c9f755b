"""Completion at once: the certificate exists as soon as the last of attendance, quiz and survey is
in, whichever it is (a check-in, a roster save, a quiz graded by hand, a survey answer), without
waiting for the end of the session or for the after-session sweep; the sweep afterwards changes
nothing. Attendance counts once it is secured: no meeting still to come can take it below the
minimum."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select

from app.assessment import surveys
from app.assessment.models import QuestionType, Quiz, SurveyQuestionKind
from app.assessment.quizzes import attempts_of, grade_answer, materialize_quiz, start_or_resume, submit
from app.attendance.checkin_codes import current_code
from app.attendance.models import AttendanceStatus
from app.attendance.services import check_in, set_mark
from app.completion import services as completion_services
from app.completion.models import Completion
from app.completion.services import check_rule, evaluate_enrolment, valid_completion
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee, RoleName
from app.reminders.scans import sweep_ended_sessions
from app.scheduling.models import Meeting
from tests import factories

QUIZ = {"pass_mark": 50, "attempts_allowed": 2, "questions": [
    {"type": "single", "text": "一つ選ぶ問題", "choices": ["甲", "乙"], "answer": 1, "points": 1},
    {"type": "short", "text": "記述問題", "answer": "模範解答", "points": 2},
]}


@dataclass
class Place:
    person: Employee
    instructor: Employee
    enrolment: Enrolment
    meetings: list[Meeting]
    quiz: Quiz


def a_place(meetings: int = 1) -> Place:
    """A confirmed place in a course that asks for full attendance, the quiz passed (its short
    answer graded by hand) and the survey answered."""
    course = factories.course(min_attendance=100, quiz_pass_mark=50, survey_required=True)
    course.quiz_spec = QUIZ
    quiz = materialize_quiz(course)
    assert quiz is not None
    instructor = factories.employee(roles=(RoleName.INSTRUCTOR,))
    session = factories.training_session(course, starts_in=timedelta(days=3), meetings=meetings,
                                         instructors=[instructor])
    person = factories.employee()
    return Place(person, instructor, factories.enrolment(person, session), list(session.meetings), quiz)


def completions(place: Place) -> list[Completion]:
    return list(db_session.scalars(select(Completion).where(Completion.employee_id == place.person.id)
                                   .order_by(Completion.id)))


def checked_in(app: Flask, place: Place) -> None:
    """The person checks in to the last meeting with the code on the instructor's screen."""
    meeting = place.meetings[-1]
    code, _seconds = current_code(app.config["SECRET_KEY"], meeting.id, now())
    check_in(place.person, meeting, code, app.config["SECRET_KEY"])


def marked_on_the_roster(app: Flask, place: Place) -> None:
    set_mark(place.instructor, place.enrolment, place.meetings[-1], AttendanceStatus.PRESENT)


def quiz_graded(app: Flask, place: Place) -> None:
    """The instructor grades the written answer: 3 of 3 points, passed."""
    [attempt] = attempts_of(place.enrolment.id, place.quiz.id)
    short = next(a for a in attempt.answers if a.question.type == QuestionType.SHORT)
    grade_answer(place.instructor, short, 2, "よくできました")
    assert attempt.passed is True


def survey_answered(app: Flask, place: Place) -> None:
    survey = surveys.ensure_survey(place.enrolment.course)
    surveys.answer(place.person, place.enrolment, survey,
                   {f"q{q.position}": "4" for q in survey.questions if q.kind == SurveyQuestionKind.SCALE})


def quiz_submitted(place: Place) -> None:
    """Submitted with a written answer: 1 of 3 points so far, so the grader's points decide."""
    single, short = (next(q for q in place.quiz.questions if q.type == kind)
                     for kind in (QuestionType.SINGLE, QuestionType.SHORT))
    attempt = start_or_resume(place.person, place.enrolment, place.quiz)
    submit(attempt, {single.id: "1", short.id: "データに基づいて決める"})
    assert attempt.passed is None and attempt.needs_grading


INPUTS: dict[str, Callable[[Flask, Place], None]] = {
    "attendance": checked_in, "quiz": quiz_graded, "survey": survey_answered}


@pytest.mark.parametrize("last", ["attendance", "roster", "quiz", "survey"])
def test_the_last_input_completes_at_once_and_the_sweep_then_changes_nothing(ctx, last):
    place = a_place()
    meeting = place.meetings[0]
    steps = {**INPUTS, "attendance": marked_on_the_roster if last == "roster" else checked_in}
    last_step = steps.pop("attendance" if last == "roster" else last)
    with time_machine.travel(meeting.starts_at + timedelta(minutes=20), tick=False):  # during the meeting
        quiz_submitted(place)
        for step in steps.values():
            step(ctx, place)
            assert completions(place) == [], "completed before the last input"
        last_step(ctx, place)
        [completion] = completions(place)
        assert completion.revoked_at is None and completion.enrolment_id == place.enrolment.id
        assert valid_completion(place.person.id, place.enrolment.course_id) is completion
        assert completion.certificate_code
        assert check_rule(place.enrolment).met
    with time_machine.travel(meeting.ends_at + timedelta(minutes=30), tick=False):
        assert sweep_ended_sessions(now()) == 0  # nothing to remind of, nothing to record
        assert completions(place) == [completion] and completion.revoked_at is None


def test_attendance_counts_once_secured_not_before(ctx):
    """Two meetings, full attendance needed: after the first the rate is 100 % of what was held,
    but the second could still be missed; attending the second secures it at once."""
    place = a_place(meetings=2)
    place.quiz.opens_after_session = False  # open from the start, not only from the last meeting
    first, second = place.meetings
    with time_machine.travel(first.starts_at + timedelta(minutes=20), tick=False):
        set_mark(place.instructor, place.enrolment, first, AttendanceStatus.PRESENT)
    with time_machine.travel(second.starts_at - timedelta(hours=1), tick=False):  # between the two
        quiz_submitted(place)
        quiz_graded(ctx, place)
        survey_answered(ctx, place)
        check = check_rule(place.enrolment)
        assert check.attendance_percent == 100 and not check.attendance_ok  # 1 of 2 secured: 50 %
        assert completions(place) == []
    with time_machine.travel(second.starts_at + timedelta(minutes=5), tick=False):
        checked_in(ctx, place)
        [completion] = completions(place)
        assert completion.revoked_at is None
    with time_machine.travel(second.ends_at + timedelta(hours=2), tick=False):
        set_mark(place.instructor, place.enrolment, second, AttendanceStatus.ABSENT, "途中から不在")
        assert completion.revoked_at is not None  # a correction after the fact still revokes


def test_an_excused_meeting_still_to_come_does_not_hold_completion_back(ctx):
    place = a_place(meetings=2)
    place.quiz.opens_after_session = False
    first, second = place.meetings
    with time_machine.travel(first.starts_at + timedelta(minutes=20), tick=False):
        set_mark(place.instructor, place.enrolment, second, AttendanceStatus.EXCUSED, "公務のため")
        quiz_submitted(place)
        quiz_graded(ctx, place)
        survey_answered(ctx, place)
        assert completions(place) == []
        set_mark(place.instructor, place.enrolment, first, AttendanceStatus.PRESENT)
        assert [c.revoked_at for c in completions(place)] == [None]


def test_evaluating_again_records_nothing_twice(ctx):
    place = a_place()
    with time_machine.travel(place.meetings[0].starts_at + timedelta(minutes=20), tick=False):
        quiz_submitted(place)
        for step in INPUTS.values():
            step(ctx, place)
        [completion] = completions(place)
        assert evaluate_enrolment(place.enrolment) is completion
        assert completions(place) == [completion]


def test_a_cycle_recorded_meanwhile_by_another_transaction_is_the_one_kept(ctx, monkeypatch):
    """The unique (person, course, cycle) is the last word: should an evaluation not see the
    completion another transaction just recorded, its own insert is refused and the other stands
    (no error, no second certificate)."""
    place = a_place()
    with time_machine.travel(place.meetings[0].starts_at + timedelta(minutes=20), tick=False):
        quiz_submitted(place)
        for step in INPUTS.values():
            step(ctx, place)
        [first] = completions(place)
        real = completion_services.latest_completion
        missed: list[int] = []

        def unseen_once(employee_id: int, course_id: int) -> Completion | None:
            if not missed:  # the first read misses it, as a transaction that began before it would
                missed.append(employee_id)
                return None
            return real(employee_id, course_id)

        monkeypatch.setattr(completion_services, "latest_completion", unseen_once)
        kept = completion_services._record(place.person.id, place.enrolment.course,
                                           completion_services.CompletionSource.RULE,
                                           enrolment_id=place.enrolment.id)
        assert kept is first
        monkeypatch.undo()
        assert completions(place) == [first]
