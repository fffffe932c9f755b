"""Retention: records of fiscal years past the policy go, the rest stay, a second run does nothing."""
from __future__ import annotations

import os
import secrets
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from app.assessment.models import Survey, SurveyResponse
from app.attendance.models import (
    AttendanceMark,
    AttendanceStatus,
    ImportedParticipant,
    ImportState,
    MarkSource,
    ParticipantImport,
    ParticipantMatch,
)
from app.audit.models import AuditEvent
from app.auth.models import LoginThrottle, LoginUnlock, UserSession
from app.catalog.models import Assignment, AssignmentStatus
from app.cli.scheduled_jobs import scheduled_jobs
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    Endorsement,
    FieldworkTeam,
    Milestone,
    Review,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    TeamMember,
    team_mentors,
)
from app.completion.models import Completion, CompletionSource
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.enrollment.models import CalendarFeed, Enrolment
from app.jobs.models import BackgroundJob, JobState
from app.org.models import Employee
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.scans import scan_assignments
from tests import factories

YEARS = range(2018, 2027)
TODAY = datetime(2026, 11, 30, 3, 0, tzinfo=TOKYO)  # fiscal 2026: with 5 years, fiscal 2020 and before go


def _year_of_records(year: int, person, milestone_id: int, upload_dir: Path) -> str:  # type: ignore[no-untyped-def]
    """One of everything personal, dated in fiscal `year`; returns the stored file's name."""
    course = factories.course()
    survey = Survey(course_id=course.id, is_anonymous=False)
    db_session.add(survey)
    db_session.flush()
    survey_id = survey.id
    session = factories.training_session(course, starts_in=timedelta(days=14))
    enrolment = factories.enrolment(person, session)
    at = now()
    db_session.add(AttendanceMark(enrolment_id=enrolment.id, meeting_id=session.meetings[0].id,
                                  status=AttendanceStatus.PRESENT, source=MarkSource.ROSTER, marked_at=at))
    db_session.add(SurveyResponse(id=secrets.token_hex(16), survey_id=survey_id, session_id=session.id,
                                  employee_id=person.id, released_on=at.date(), answers={"1": 5}))
    stored = secrets.token_hex(20)
    (upload_dir / "cohorts").mkdir(parents=True, exist_ok=True)
    (upload_dir / "cohorts" / stored).write_bytes(b"%PDF-1.4 report")
    db_session.add(Submission(milestone_id=milestone_id, employee_id=person.id, version=year, text="私の報告",
                              submitted_by_id=person.id, submitted_at=at, status=SubmissionStatus.ACCEPTED,
                              files=[SubmissionFile(original_name="report.pdf", stored_name=stored,
                                                    content_type="application/pdf", size=15)]))
    db_session.add(Completion(employee_id=person.id, course_id=course.id, enrolment_id=enrolment.id,
                              source=CompletionSource.MANUAL, completed_on=at.date(), cycle=year, hours=Decimal(3),
                              certificate_code=f"TEST-{year}-{secrets.token_hex(4)}", recorded_at=at))
    db_session.add(AuditEvent(occurred_at=at, action="test.retention", target_type="employee",
                              target_id=str(person.id), summary="", before=None, after=None))
    db_session.add(Notification(recipient_id=person.id, kind="test_retention", dedupe_key=f"test-retention-{year}",
                                context={}, status=DeliveryStatus.SENT, due_at=at, next_attempt_at=at,
                                sent_at=at, created_at=at))
    db_session.commit()
    _cohort_of(year, person, upload_dir)
    _sign_in_records(f"fy{year}", person, at)
    _uploads(f"fy{year}", person, session.meetings[0].id, at, upload_dir)
    db_session.commit()
    return stored


def _stored_file(upload_dir: Path, folder: str, name: str, at: datetime) -> None:
    (upload_dir / folder).mkdir(parents=True, exist_ok=True)
    path = upload_dir / folder / name
    path.write_bytes(b"personal,data\n")
    os.utime(path, (at.timestamp(), at.timestamp()))  # the file's own time, as if written then


def _cohort_of(year: int, person: Employee, upload_dir: Path) -> None:
    """A cohort of fiscal `year` whose programme ends within it (its last milestone ~160 days after
    applications close), with an application, a team, a mentor, a reviewed team submission and its file."""
    cohort = factories.cohort()
    cohort.fiscal_year = year
    mentor = factories.employee(name=f"メンター{year}")
    at = now()
    db_session.add(Application(cohort_id=cohort.id, employee_id=person.id, department_id=person.unit_id,
                               statement="志望動機", theme="dx", answers=["課題"], endorsement=Endorsement.ENDORSED,
                               endorsed_by_id=mentor.id, endorsement_comment="推薦します",
                               decision=Decision.SELECTED, created_at=at, updated_at=at))
    team = FieldworkTeam(cohort_id=cohort.id, name=f"チーム{year}", host_unit_id=person.unit_id, theme="dx")
    team.mentors.append(mentor)
    db_session.add(team)
    db_session.flush()
    db_session.add(TeamMember(team_id=team.id, cohort_id=cohort.id, employee_id=person.id))
    plan = db_session.scalars(select(Milestone).where(Milestone.cohort_id == cohort.id)
                              .order_by(Milestone.due_at)).first()
    assert plan is not None
    stored = secrets.token_hex(20)
    _stored_file(upload_dir, "cohorts", stored, at)
    db_session.add(Submission(milestone_id=plan.id, team_id=team.id, version=1, text="チームの計画",
                              submitted_by_id=person.id, submitted_at=at, status=SubmissionStatus.ACCEPTED,
                              files=[SubmissionFile(original_name="plan.pdf", stored_name=stored,
                                                    content_type="application/pdf", size=15)],
                              reviews=[Review(mentor_id=mentor.id, accepted=True, rubric=[], scores={"0": 1},
                                              points=3, max_points=4, comment="良い計画", created_at=at)]))


def _sign_in_records(tag: str, person: Employee, at: datetime) -> None:
    """A session that expired long ago, throttle rows of the person and of an unknown name typed, an
    expired unlock link: all as of `at`."""
    db_session.add(UserSession(token_hash=secrets.token_hex(32), employee_id=person.id, created_at=at,
                               last_seen_at=at, user_agent="Firefox / Linux", address="192.0.2.1"))
    db_session.add(LoginThrottle(key=f"login:unknown-{tag}", failures=3, window_started_at=at, last_failure_at=at))
    db_session.add(LoginThrottle(key=f"checkin:{tag}", failures=1, window_started_at=at))  # check-in codes
    db_session.add(LoginUnlock(token_hash=secrets.token_hex(32), employee_id=person.id, created_at=at,
                               expires_at=at + timedelta(hours=1)))


def _uploads(tag: str, person: Employee, meeting_id: int, at: datetime, upload_dir: Path) -> None:
    """A web meeting's participant list (a guest nobody matched), a finished staff import with its
    staged file still there, and a staff list previewed and never applied."""
    db_session.add(ParticipantImport(meeting_id=meeting_id, file_name="zoom.csv", file_format="Zoom",
                                     state=ImportState.APPLIED, uploaded_at=at, uploaded_by_id=person.id,
                                     participants=[ImportedParticipant(
                                         first_line=2, lines="2", name="来賓 花子", email="guest@example.com",
                                         intervals=[], minutes=30, match=ParticipantMatch.UNMATCHED,
                                         reason="not_enrolled")]))
    token = secrets.token_hex(16)
    for suffix in (".csv", ".json"):
        _stored_file(upload_dir, "staff-imports", token + suffix, at)
    db_session.add(BackgroundJob(kind="org.staff_import", state=JobState.SUCCEEDED,
                                 dedupe_key=f"org.staff_import:{token}", created_by_id=person.id,
                                 created_at=at, finished_at=at,
                                 payload={"token": token, "filename": f"職員{tag}.csv"},
                                 result={"reason": "applied", "filename": f"職員{tag}.csv"}))
    never_applied = secrets.token_hex(16)
    for suffix in (".csv", ".json"):
        _stored_file(upload_dir, "staff-imports", never_applied + suffix, at)


@pytest.fixture
def history(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    upload_dir = tmp_path / "uploads"  # this test's own, so files can be counted
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(upload_dir))
    with app.test_request_context():
        person = factories.employee()
        cohort = factories.cohort()
        milestone = db_session.scalars(select(Milestone).where(Milestone.cohort_id == cohort.id)).first()
        assert milestone is not None
        db_session.commit()
        files = {}
        for year in YEARS:
            with time_machine.travel(datetime(year, 6, 1, 10, 0, tzinfo=TOKYO), tick=False):
                files[year] = _year_of_records(year, person, milestone.id, upload_dir)
        recent = TODAY - timedelta(days=10)  # within every period counted in days
        with time_machine.travel(recent, tick=False):
            _sign_in_records("recent", person, recent)
            db_session.commit()
        yield person, files, upload_dir


def _count(model, *where) -> int:  # type: ignore[no-untyped-def]
    return db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _snapshot(person_id: int) -> dict[str, int]:
    return {
        "enrolments": _count(Enrolment, Enrolment.employee_id == person_id),
        "marks": _count(AttendanceMark),
        "named answers": _count(SurveyResponse, SurveyResponse.employee_id == person_id),
        "answers": _count(SurveyResponse),
        "submissions": _count(Submission, Submission.employee_id == person_id),
        "completions": _count(Completion, Completion.employee_id == person_id),
        "audit": _count(AuditEvent, AuditEvent.action == "test.retention"),
        "notifications": _count(Notification, Notification.kind == "test_retention"),
        "cohort applications": _count(Application, Application.employee_id == person_id),
        "team members": _count(TeamMember, TeamMember.employee_id == person_id),
        "team mentors": _count(team_mentors),
        "team submissions": _count(Submission, Submission.team_id.is_not(None)),
        "reviews": _count(Review),
        "submission files": _count(SubmissionFile),
        "cohorts": _count(Cohort),
        "sessions": _count(UserSession, UserSession.employee_id == person_id),
        "throttles": _count(LoginThrottle),
        "unlock links": _count(LoginUnlock, LoginUnlock.employee_id == person_id),
        "participant lists": _count(ParticipantImport),
        "participant rows": _count(ImportedParticipant),
        "jobs": _count(BackgroundJob),
    }


def _category_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": delete " in line or ": anonymise " in line]


def _staged(upload_dir: Path) -> int:
    return len(list((upload_dir / "staff-imports").glob("*.csv")))


def test_dry_run_reports_the_expired_fiscal_years_and_changes_nothing(app, runner, history):  # type: ignore[no-untyped-def]
    person, files, upload_dir = history
    with app.app_context():
        before = _snapshot(person.id)
    with time_machine.travel(TODAY, tick=False):
        result = runner.invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "enrolments: delete 3 (FY2018: 1, FY2019: 1, FY2020: 1)" in result.output
    assert "named survey answers: anonymise 3 (FY2018: 1, FY2019: 1, FY2020: 1)" in result.output
    assert "fieldwork files: delete 6 (FY2018: 2, FY2019: 2, FY2020: 2)" in result.output  # own and cohorts'
    assert "cohort applications: delete 3 (FY2018: 1, FY2019: 1, FY2020: 1)" in result.output
    assert "signed-in sessions: delete 9" in result.output  # every year's, not the recent one
    assert "participant lists: delete 8" in result.output
    assert "staff lists previewed, never applied: delete 8" in result.output
    assert "completions" not in result.output  # kept by default: the official record
    with app.app_context():
        assert _snapshot(person.id) == before
        assert _count(AuditEvent, AuditEvent.action == "retention.run") == 0
    assert all((upload_dir / "cohorts" / name).exists() for name in files.values())
    assert _staged(upload_dir) == 18


def test_run_removes_exactly_the_expired_and_a_second_run_does_nothing(app, runner, history):  # type: ignore[no-untyped-def]
    person, files, upload_dir = history
    with time_machine.travel(TODAY, tick=False):
        dry = runner.invoke(args=["retention", "run", "--dry-run"])
        result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "enrolments: delete 3 (FY2018: 1, FY2019: 1, FY2020: 1)" in result.output
    assert _category_lines(result.output) == _category_lines(dry.output)  # the dry run said exactly this
    with app.app_context():
        assert _snapshot(person.id) == {
            "enrolments": 6, "marks": 6, "named answers": 6,
            "answers": 9,  # every answer still counts, the old ones now without a name
            "submissions": 6, "completions": 9, "audit": 6,
            "notifications": 1,  # only this year's: the others are older than 365 days
            # cohorts whose programme ended in fiscal 2020 or before: gone but the cohorts themselves
            "cohort applications": 6, "team members": 6, "team mentors": 6, "team submissions": 6,
            "reviews": 6, "submission files": 12, "cohorts": 10,
            # counted in days (90): only the records of ten days ago
            "sessions": 1, "throttles": 2, "unlock links": 1,
            # counted in days (365): only this fiscal year's June
            "participant lists": 1, "participant rows": 1, "jobs": 1,
        }
        assert set(db_session.scalars(select(LoginThrottle.key))) == {"login:unknown-recent", "checkin:recent"}
        kept_years = {d.year for d in db_session.scalars(
            select(Enrolment.requested_at).where(Enrolment.employee_id == person.id))}
        assert kept_years == {2021, 2022, 2023, 2024, 2025, 2026}
        (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run"))
        assert event.after is not None
        assert event.after["categories"]["enrolments"] == {"action": "delete", "count": 3,
                                                           "fiscal_years": [2018, 2019, 2020]}
        assert set(event.after) == {"today", "categories", "files_removed"}  # counts only, nobody named
        assert event.target_id is None and event.before is None
    for year, name in files.items():
        assert (upload_dir / "cohorts" / name).exists() == (year >= 2021)
    assert len(list((upload_dir / "cohorts").iterdir())) == 12  # the kept years' own and team files
    assert _staged(upload_dir) == 2  # this year's: the import's and the preview's
    assert "files removed: 38" in result.output  # 6 submission files, 8 x 2 of jobs, 8 x 2 of previews

    with time_machine.travel(TODAY, tick=False):
        again = runner.invoke(args=["retention", "run"])
    assert again.exit_code == 0, again.output
    assert "total: 0" in again.output
    assert "files removed: 0" in again.output
    with app.app_context():
        assert _count(AuditEvent, AuditEvent.action == "retention.run") == 1  # nothing done, nothing recorded
        assert _count(UserSession) == 1 and _count(BackgroundJob) == 1


def test_completions_go_only_when_configured(app, runner, history, monkeypatch):  # type: ignore[no-untyped-def]
    person, *_ = history
    monkeypatch.setitem(app.config, "RETENTION_COMPLETIONS_YEARS", 7)
    with time_machine.travel(TODAY, tick=False):
        result = runner.invoke(args=["retention", "run"])
    assert "completions: delete 1 (FY2018: 1)" in result.output
    with app.app_context():
        assert _count(Completion, Completion.employee_id == person.id) == 8


def test_the_scheduler_job_applies_the_policy_at_night(app, history):  # type: ignore[no-untyped-def]
    person, *_ = history
    (job,) = [job for job in scheduled_jobs(app) if job.name == "retention"]
    assert job.trigger == "cron" and job.trigger_args["hour"] < 6
    with app.app_context(), time_machine.travel(TODAY, tick=False):
        job.run(app, now(), "test")
        assert _count(Enrolment, Enrolment.employee_id == person.id) == 6


def test_calendar_feeds_go_only_for_people_who_left_long_ago(app, runner, history):  # type: ignore[no-untyped-def]
    person, *_ = history
    with app.app_context():
        long_gone = factories.employee(active=False)
        just_left = factories.employee(active=False)
        long_gone.deactivated_at = TODAY - timedelta(days=200)
        just_left.deactivated_at = TODAY - timedelta(days=20)
        for who in (person, long_gone, just_left):
            db_session.add(CalendarFeed(employee_id=who.id, token=secrets.token_urlsafe(32), created_at=now()))
        db_session.commit()
        ids = (person.id, long_gone.id, just_left.id)
    with time_machine.travel(TODAY, tick=False):
        result = runner.invoke(args=["retention", "run"])
    assert "calendar feeds of people who left: delete 1" in result.output
    with app.app_context():
        assert set(db_session.scalars(select(CalendarFeed.employee_id))) == {ids[0], ids[2]}


def test_a_reminder_about_something_still_live_is_not_sent_again_after_retention(app, runner, history):  # type: ignore[no-untyped-def]
    """The row of a sent "not enrolled yet" notice is what stops the daily scan from queueing it
    again: while its assignment is still owed it stays, however old; a finished one's row goes."""
    person, *_ = history
    with app.app_context(), time_machine.travel(datetime(2024, 6, 1, 9, 0, tzinfo=TOKYO), tick=False):
        course = factories.course()
        factories.assignment_rule(course, "SHUNIN", fiscal_year=2026, due_on=date(2026, 12, 5))
        live = db_session.scalars(select(Assignment).where(Assignment.employee_id == person.id,
                                                           Assignment.course_id == course.id)).one()
        other = factories.course()
        factories.assignment_rule(other, "SHUNIN", fiscal_year=2024, due_on=date(2024, 6, 20))
        withdrawn = db_session.scalars(select(Assignment).where(Assignment.employee_id == person.id,
                                                                Assignment.course_id == other.id)).one()
        withdrawn.status = AssignmentStatus.WITHDRAWN
        at = now()  # two and a half years before the run: far past the 365 days
        keys = {}
        for assignment in (live, withdrawn):
            keys[assignment.id] = f"assign:{assignment.id}:not_enrolled"
            db_session.add(Notification(recipient_id=person.id, kind="assignment_not_enrolled",
                                        dedupe_key=keys[assignment.id], context={"assignment_id": assignment.id},
                                        status=DeliveryStatus.SENT, due_at=at, next_attempt_at=at, sent_at=at,
                                        created_at=at))
        db_session.commit()
        live_key, withdrawn_key = keys[live.id], keys[withdrawn.id]
    with time_machine.travel(TODAY, tick=False):
        dry = runner.invoke(args=["retention", "run", "--dry-run"])
        result = runner.invoke(args=["retention", "run"])
    assert _category_lines(result.output) == _category_lines(dry.output)
    with app.app_context():
        assert _count(Notification, Notification.dedupe_key == withdrawn_key) == 0  # finished: gone
        (kept,) = db_session.scalars(select(Notification).where(Notification.dedupe_key == live_key))
        with time_machine.travel(TODAY, tick=False):  # the scan of that day: due in 5 days, not enrolled
            scan_assignments(now())
            db_session.commit()
        (still,) = db_session.scalars(select(Notification).where(Notification.dedupe_key == live_key))
        assert still.id == kept.id and still.status == DeliveryStatus.SENT  # not queued a second time
        assert _count(Notification, Notification.kind == "assignment_not_enrolled",
                      Notification.recipient_id == person.id, Notification.status == DeliveryStatus.PENDING) == 0
        assert _count(Notification, Notification.kind == "assignment_due_soon",
                      Notification.recipient_id == person.id) == 1  # the scan did run: "due soon" is new
