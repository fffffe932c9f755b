"""The completion rule (attendance ≥ minimum, quiz passed, survey answered) and its
re-evaluation whenever attendance changes — also after the fact, in both directions."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.assessment.events import QuizGraded, SurveyAnswered
from app.assessment.models import Quiz, QuizAttempt, SurveyReceipt
from app.assessment.surveys import ensure_survey
from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.audit.models import AuditEvent
from app.completion.models import Completion, CompletionSource
from app.completion.services import check_rule, evaluate_enrolment, record_manual_completion, valid_completion
from app.core.clock import now, today
from app.core.db import db_session
from app.core.events import emit
from app.org.models import RoleName
from app.reminders.models import Notification
from app.reminders.scans import sweep_ended_sessions
from tests import factories

PRESENT, ABSENT, EXCUSED = AttendanceStatus.PRESENT, AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED


@pytest.fixture
def hr(ctx):
    return factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))


def enrolled(meetings: int = 1, **course_options: object):  # type: ignore[no-untyped-def]
    """(enrolment, meetings) in a session starting in three days; course_options go to the course."""
    course = factories.course(**{"min_attendance": 100, **course_options})  # type: ignore[arg-type]
    session = factories.training_session(course, starts_in=timedelta(days=3), meetings=meetings)
    enrolment = factories.enrolment(factories.employee(), session)
    return enrolment, list(session.meetings)


def completions_of(enrolment) -> list[Completion]:  # type: ignore[no-untyped-def]
    return list(db_session.scalars(select(Completion).where(Completion.employee_id == enrolment.employee_id,
                                                            Completion.course_id == enrolment.course_id)
                                   .order_by(Completion.id)))


def test_correcting_attendance_after_the_fact_completes_revokes_and_completes_again(hr):
    enrolment, [meeting] = enrolled()
    with time_machine.travel(meeting.ends_at + timedelta(days=2), tick=False):
        set_mark(hr, enrolment, meeting, PRESENT)
        [first] = completions_of(enrolment)
        assert first.revoked_at is None and first.source == CompletionSource.RULE
        assert first.enrolment_id == enrolment.id and first.hours == enrolment.course.hours
        assert re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]+", first.certificate_code)
        assert valid_completion(enrolment.employee_id, enrolment.course_id) is first

    corrected_at = meeting.ends_at + timedelta(days=5)
    with time_machine.travel(corrected_at, tick=False):
        set_mark(hr, enrolment, meeting, ABSENT, "出席簿の誤りを訂正")
        assert completions_of(enrolment) == [first]
        assert first.revoked_at == corrected_at and first.revoked_reason
        assert valid_completion(enrolment.employee_id, enrolment.course_id) is None
        revoked = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "completion.revoked"))
        assert revoked is not None and revoked.target_id == str(first.id)

    with time_machine.travel(meeting.ends_at + timedelta(days=6), tick=False):
        set_mark(hr, enrolment, meeting, PRESENT, "再訂正")
        old, new = completions_of(enrolment)
        assert old is first and old.revoked_at == corrected_at  # history is kept
        assert new.revoked_at is None and new.certificate_code != first.certificate_code
        assert valid_completion(enrolment.employee_id, enrolment.course_id) is new


def test_an_excused_only_meeting_is_not_attendance(hr):
    enrolment, [meeting] = enrolled()
    with time_machine.travel(meeting.ends_at + timedelta(hours=1), tick=False):
        set_mark(hr, enrolment, meeting, PRESENT)
        assert valid_completion(enrolment.employee_id, enrolment.course_id) is not None
        set_mark(hr, enrolment, meeting, EXCUSED)
        assert valid_completion(enrolment.employee_id, enrolment.course_id) is None
        assert check_rule(enrolment).attendance_percent is None


def test_correction_through_the_roster_page_revokes_and_restores(app):
    with app.app_context():
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        enrolment, [meeting] = enrolled()
        ids = {"enrolment": enrolment.id, "meeting": meeting.id, "employee": enrolment.employee_id,
               "course": enrolment.course_id}
    client = app.test_client()
    path = f"/attendance/meetings/{ids['meeting']}"
    for days, status, completed in ((1, "present", True), (2, "absent", False), (3, "present", True)):
        with time_machine.travel(meeting.ends_at + timedelta(days=days), tick=False):
            factories.login_as(client, hr)
            response = factories.post(client, path, {f"status-{ids['enrolment']}": status}, form_page=path)
            assert response.status_code == 302
        with app.app_context():
            assert (valid_completion(ids["employee"], ids["course"]) is not None) is completed
    with app.app_context():
        rows = db_session.scalars(select(Completion).where(Completion.employee_id == ids["employee"])
                                  .order_by(Completion.id)).all()
        assert [r.revoked_at is None for r in rows] == [False, True]


def test_attendance_marked_during_the_session_completes_once_it_is_secured(hr):
    enrolment, meetings = enrolled(meetings=2)
    first, second = meetings
    with time_machine.travel(first.starts_at + timedelta(minutes=10), tick=False):
        set_mark(hr, enrolment, first, PRESENT)
        assert completions_of(enrolment) == []  # the second meeting could still be missed
        assert not check_rule(enrolment).attendance_ok
    with time_machine.travel(second.starts_at + timedelta(minutes=10), tick=False):
        set_mark(hr, enrolment, second, PRESENT)  # the session has not ended, but nothing can undo 100 % now
        [completion] = completions_of(enrolment)
        assert completion.revoked_at is None and completion.completed_on == today()
    ended = second.ends_at + timedelta(minutes=5)
    with time_machine.travel(ended, tick=False):
        assert sweep_ended_sessions(now()) == 0  # nothing to remind: no quiz, no survey
        assert completions_of(enrolment) == [completion] and completion.revoked_at is None  # nothing more


def test_sweep_does_not_complete_someone_below_the_minimum(hr):
    enrolment, [first, second] = enrolled(meetings=2, min_attendance=80)
    with time_machine.travel(first.ends_at, tick=False):
        set_mark(hr, enrolment, first, PRESENT)
    with time_machine.travel(second.ends_at + timedelta(hours=1), tick=False):
        sweep_ended_sessions(now())
        assert completions_of(enrolment) == []
        assert check_rule(enrolment).attendance_percent == 50
        set_mark(hr, enrolment, second, AttendanceStatus.LEFT_EARLY, "途中退席")
        assert valid_completion(enrolment.employee_id, enrolment.course_id) is not None


def test_quiz_and_survey_course_is_not_completed_by_attendance_alone(hr):
    enrolment, [meeting] = enrolled(quiz_pass_mark=70, survey_required=True)
    quiz = Quiz(course_id=enrolment.course_id, pass_mark=70, updated_at=now())
    db_session.add(quiz)
    db_session.flush()
    with time_machine.travel(meeting.ends_at + timedelta(minutes=30), tick=False):
        set_mark(hr, enrolment, meeting, PRESENT)
        assert completions_of(enrolment) == []
        check = check_rule(enrolment)
        assert (check.attendance_ok, check.quiz_required, check.quiz_ok, check.survey_required, check.survey_ok) == (
            True, True, False, True, False)
        assert sweep_ended_sessions(now()) == 1  # a reminder of the quiz and the survey instead
        assert completions_of(enrolment) == []
        notice = db_session.scalar(select(Notification).where(Notification.kind == "followup_todo"))
        assert notice is not None and notice.recipient_id == enrolment.employee_id

        db_session.add(QuizAttempt(quiz_id=quiz.id, enrolment_id=enrolment.id, employee_id=enrolment.employee_id,
                                   attempt_no=1, question_order=[], started_at=now(), submitted_at=now(),
                                   score=8, max_score=10, percent=80, passed=True))
        db_session.flush()
        emit(QuizGraded(enrolment.id))
        assert completions_of(enrolment) == []  # the survey is still missing

        db_session.add(SurveyReceipt(survey_id=ensure_survey(enrolment.course).id, enrolment_id=enrolment.id,
                                     answered_on=today()))
        db_session.flush()
        emit(SurveyAnswered(enrolment.id))
        [completion] = completions_of(enrolment)
        assert completion.revoked_at is None

        set_mark(hr, enrolment, meeting, ABSENT)  # quiz and survey do not make up for absence
        assert completion.revoked_at is not None


def test_someone_who_joined_late_completes_on_the_meetings_after_they_joined(hr):
    enrolment, [first, second] = enrolled(meetings=2)
    enrolment.confirmed_at = first.ends_at + timedelta(hours=1)
    db_session.flush()
    with time_machine.travel(second.ends_at + timedelta(minutes=1), tick=False):
        set_mark(hr, enrolment, second, PRESENT)
        assert check_rule(enrolment).attendance_percent == 100
        assert valid_completion(enrolment.employee_id, enrolment.course_id) is not None


def test_a_manual_completion_is_not_revoked_by_attendance(hr):
    enrolment, [meeting] = enrolled()
    with time_machine.travel(meeting.ends_at + timedelta(days=1), tick=False):
        manual = record_manual_completion(hr, enrolment.employee, enrolment.course, today(),
                                          enrolment.course.hours, "他県の同等研修を修了")
        set_mark(hr, enrolment, meeting, ABSENT)
        assert manual.revoked_at is None
        assert evaluate_enrolment(enrolment) is manual
        assert completions_of(enrolment) == [manual]
