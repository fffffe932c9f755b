"""Retention: records of fiscal years past the policy go, the rest stay, a second run does nothing."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from app.assessment.models import Survey, SurveyResponse
from app.attendance.models import AttendanceMark, AttendanceStatus, MarkSource
from app.audit.models import AuditEvent
from app.cli.scheduled_jobs import scheduled_jobs
from app.cohorts.models import Milestone, Submission, SubmissionFile, SubmissionStatus
from app.completion.models import Completion, CompletionSource
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.reminders.models import DeliveryStatus, Notification
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
    return stored


@pytest.fixture
def history(app: Flask, tmp_path: Path):  # type: ignore[no-untyped-def]
    upload_dir = Path(app.config["UPLOAD_DIR"])
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
    }


def test_dry_run_reports_the_expired_fiscal_years_and_changes_nothing(app, runner, history):  # type: ignore[no-untyped-def]
    person, files, upload_dir = history
    with app.app_context():
        before = _snapshot(person.id)
    with time_machine.travel(TODAY, tick=False):
        result = runner.invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "enrolments: delete 3 (FY2018: 1, FY2019: 1, FY2020: 1)" in result.output
    assert "named survey answers: anonymise 3 (FY2018: 1, FY2019: 1, FY2020: 1)" in result.output
    assert "fieldwork files: delete 3" in result.output
    assert "completions" not in result.output  # kept by default: the official record
    with app.app_context():
        assert _snapshot(person.id) == before
        assert _count(AuditEvent, AuditEvent.action == "retention.run") == 0
    assert all((upload_dir / "cohorts" / name).exists() for name in files.values())


def test_run_removes_exactly_the_expired_and_a_second_run_does_nothing(app, runner, history):  # type: ignore[no-untyped-def]
    person, files, upload_dir = history
    with time_machine.travel(TODAY, tick=False):
        result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "enrolments: delete 3 (FY2018: 1, FY2019: 1, FY2020: 1)" in result.output
    with app.app_context():
        assert _snapshot(person.id) == {
            "enrolments": 6, "marks": 6, "named answers": 6,
            "answers": 9,  # every answer still counts, the old ones now without a name
            "submissions": 6, "completions": 9, "audit": 6,
            "notifications": 1,  # only this year's: the others are older than 365 days
        }
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

    with time_machine.travel(TODAY, tick=False):
        again = runner.invoke(args=["retention", "run"])
    assert again.exit_code == 0, again.output
    assert "total: 0" in again.output
    with app.app_context():
        assert _count(AuditEvent, AuditEvent.action == "retention.run") == 1  # nothing done, nothing recorded


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
