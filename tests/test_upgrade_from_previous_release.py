"""Upgrading a database that a previous release made and used (issue 20).

A database is migrated to PREVIOUS_RELEASE only, filled with plain SQL that is valid for that
schema (the ORM models describe the new one), then upgraded to head. Its people can still sign
in and see their enrolment and certificate, the rows the later migrations fill from existing data
are filled, and the models and the migrated schema agree (as tests/test_migrations.py asks of an
empty database). Every revision since PREVIOUS_RELEASE has a downgrade, so going back to the
previous release keeps the data and the next upgrade works again.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import JSON, BindParameter, Connection, Date, Engine, Numeric, bindparam, select, text

from app import models  # noqa: F401  (every table registered on the metadata)
from app.catalog.models import Assignment, Course
from app.cohorts.models import Review
from app.completion.models import Completion
from app.core.db import Base, UTCDateTime, db_session, make_engine
from app.core.migrate_cli import alembic_config, upgrade_database
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import Employee
from app.scheduling.models import TrainingSession
from tests import factories
from tests.conftest import build_app

# The previous release: the Alembic head of commit a161dcc (issue 16, "Enrolment morning"), the
# last landed release before issue 17's chain e1a7c3d90b11 … e6fcbc2e5a66 (self-paced modules,
# recurring training, attendance by minutes, report versions, course web edits and rubrics,
# transfers). A database in production today is at this revision; everything after it must
# carry its data. Its revisions also move data (cycles, rubrics from milestones to programmes,
# sync state from version history), which an upgrade of an empty database never exercises.
PREVIOUS_RELEASE = "b3d9f1a2c6e4"

RUBRIC = [{"name": "課題設定", "levels": [{"label": "十分", "points": 5, "description": ""},
                                         {"label": "不十分", "points": 1, "description": ""}]}]
SYNC_HASH = "a" * 64
CERTIFICATE = "MNB-2026-000123"
COURSE_TITLE = "情報セキュリティ基礎"


@dataclass
class Seeded:
    employee_id: int
    enrolment_id: int
    completion_id: int
    course_id: int
    programme_id: int
    session_id: int
    synced_at: datetime


def _insert(connection: Connection, table: str, returning: bool = True, **values: Any) -> int:
    """INSERT one row with plain SQL; instants, dates and JSON are bound with their column types."""
    columns = ", ".join(f'"{name}"' for name in values)
    statement = text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + name for name in values)})"
                     + (" RETURNING id" if returning else ""))
    typed: list[BindParameter[Any]] = []
    for name, value in values.items():
        if isinstance(value, datetime):
            typed.append(bindparam(name, type_=UTCDateTime(timezone=True)))
        elif isinstance(value, date):
            typed.append(bindparam(name, type_=Date()))
        elif isinstance(value, Decimal):
            typed.append(bindparam(name, type_=Numeric(6, 2)))
        elif isinstance(value, dict | list):
            typed.append(bindparam(name, type_=JSON()))
    result = connection.execute(statement.bindparams(*typed), values)
    return int(result.scalar_one()) if returning else 0


def _seed_previous_release(connection: Connection) -> Seeded:
    """What an office had in the previous release: staff, a course taken and completed, a cohort."""
    at = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    grade = _insert(connection, "grades", code="SHUNIN", name="主任級", name_en="Chief level", rank=6)
    unit = _insert(connection, "units", code="D100", name="総務部", name_en="General Affairs", kind="department",
                   path="/", sort_order=1, is_active=True)
    connection.execute(text("UPDATE units SET path = '/' || id || '/' WHERE id = :id"), {"id": unit})

    def person(number: str, name: str) -> int:
        employee = _insert(connection, "employees", employee_number=number, name=name, name_kana="テスト",
                           email=f"{number.lower()}@pref.example.jp", grade_id=grade, unit_id=unit,
                           is_active=True, is_external=False, locale="ja")
        _insert(connection, "placements", employee_id=employee, unit_id=unit, grade_id=grade,
                started_on=date(2026, 4, 1))
        return employee

    learner = person("E0001", "山田花子")
    hr = person("E0002", "佐藤一郎")
    password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(factories.PASSWORD)
    _insert(connection, "credentials", returning=False, employee_id=learner, password_hash=password_hash,
            must_change=False, changed_at=at)
    _insert(connection, "role_grants", employee_id=hr, role="hr")

    common: dict[str, Any] = {
        "track": "grade_training", "theme": "general", "hours": Decimal("3.00"), "fiscal_year": 2026,
        "body_md": "本文", "min_attendance_pct": 80, "survey_required": False, "electives_required": 0,
        "status": "published", "version": 1, "search_text": "", "created_at": at, "updated_at": at}
    course = _insert(connection, "courses", code="SEC-101", kind="course", title_ja=COURSE_TITLE,
                     title_en="Information security basics", delivery_format="classroom", source="file",
                     source_path="courses/sec-101.md", content_hash=SYNC_HASH, **common)
    _insert(connection, "course_versions", course_id=course, version=1, content_hash=SYNC_HASH,
            snapshot={"title_ja": COURSE_TITLE}, change_note="sync: courses/sec-101.md", created_at=at)
    programme = _insert(connection, "courses", code="SMART-P", kind="programme", title_ja="スマート人材育成",
                        title_en="Smart talent", delivery_format="blended", source="web", content_hash="b" * 64,
                        **{**common, "track": "cohort_programme"})

    rule = _insert(connection, "assignment_rules", course_id=course, grade_id=grade, fiscal_year=2026,
                   due_on=date(2027, 3, 31), is_active=True, created_at=at, created_by_id=hr)
    _insert(connection, "assignments", rule_id=rule, employee_id=learner, course_id=course, fiscal_year=2026,
            due_on=date(2027, 3, 31), status="active", assigned_at=at)

    starts = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    ends = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    session = _insert(connection, "training_sessions", course_id=course, label="第1回", location="本庁舎 5F",
                      capacity=20, seats_taken=0, enrolment_opens_at=at,
                      enrolment_closes_at=datetime(2026, 6, 25, tzinfo=UTC),
                      cancellation_deadline_at=datetime(2026, 6, 28, tzinfo=UTC), approval_policy="none",
                      status="scheduled", cohort_only=False, starts_at=starts, ends_at=ends, sequence=1, notes="",
                      created_at=at, updated_at=at)
    meeting = _insert(connection, "meetings", session_id=session, starts_at=starts, ends_at=ends)
    enrolment = _insert(connection, "enrolments", session_id=session, course_id=course, course_version=1,
                        employee_id=learner, state="confirmed", holds_seat=True, approval_stage="not_required",
                        requested_by_id=learner, requested_at=at, confirmed_at=at, end_reason="")
    _insert(connection, "attendance_marks", enrolment_id=enrolment, meeting_id=meeting, status="present",
            remark="", source="roster", marked_at=ends, marked_by_id=hr)
    quiz = _insert(connection, "quizzes", course_id=course, pass_mark=60, attempts_allowed=2, shuffle=False,
                   show_answers=False, opens_after_session=True, spec_hash="c" * 64, updated_at=at,
                   show_answers_between_attempts=False)
    question = _insert(connection, "quiz_questions", quiz_id=quiz, position=1, type="single", text="正しいものは？",
                       choices=["A", "B"], answer=[0], points=10, is_active=True)
    attempt = _insert(connection, "quiz_attempts", quiz_id=quiz, enrolment_id=enrolment, employee_id=learner,
                      attempt_no=1, question_order=[question], started_at=ends, submitted_at=ends, timed_out=False,
                      score=10, max_score=10, percent=100, needs_grading=False, passed=True)
    _insert(connection, "quiz_answers", attempt_id=attempt, question_id=question, response=[0], points_awarded=10,
            grader_comment="")
    completion = _insert(connection, "completions", employee_id=learner, course_id=course, enrolment_id=enrolment,
                         source="rule", completed_on=date(2026, 7, 1), hours=Decimal("3.00"),
                         certificate_code=CERTIFICATE, evidence_note="", recorded_at=ends, revoked_reason="")
    _insert(connection, "notifications", recipient_id=learner, kind="enrolment_confirmed",
            dedupe_key=f"enrolment_confirmed:{enrolment}", context={"enrolment_id": enrolment},
            enrolment_id=enrolment, is_urgent=False, status="sent", due_at=at, next_attempt_at=at, attempts=1,
            sent_at=at, last_error="", subject="受講が確定しました", created_at=at)
    _insert(connection, "audit_events", occurred_at=at, actor_id=hr, action="completion.recorded",
            target_type="completion", target_id=str(completion), summary="修了を記録", after={"hours": "3.00"})

    cohort = _insert(connection, "cohorts", programme_id=programme, fiscal_year=2026, name="2026年度",
                     applications_open_at=at, applications_close_at=datetime(2026, 6, 30, tzinfo=UTC), quota=5,
                     selected_count=0, requires_endorsement=True, questions=["取り組みたい課題は？"],
                     min_attendance_pct=80, final_score_bar=60, created_at=at)
    _insert(connection, "cohort_applications", cohort_id=cohort, employee_id=learner, department_id=unit,
            statement="窓口のデジタル化", theme="smart_government", answers=["窓口"], is_withdrawn=False,
            endorsement="endorsed", endorsed_by_id=hr, endorsement_comment="", decision="selected",
            decided_by_id=hr, created_at=at, updated_at=at)
    milestone = _insert(connection, "cohort_milestones", cohort_id=cohort, kind="presentation",
                        due_at=datetime(2027, 2, 1, tzinfo=UTC), per_team=False, rubric=RUBRIC)
    submission = _insert(connection, "cohort_submissions", milestone_id=milestone, employee_id=learner, version=1,
                         text="発表資料", submitted_by_id=learner, submitted_at=at, is_late=False, status="accepted")
    _insert(connection, "cohort_reviews", submission_id=submission, mentor_id=hr, accepted=True,
            scores={"課題設定": "十分"}, points=5, max_points=5, comment="", created_at=at)
    return Seeded(employee_id=learner, enrolment_id=enrolment, completion_id=completion, course_id=course,
                  programme_id=programme, session_id=session, synced_at=at)


def _drift(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _counts(engine: Engine) -> dict[str, int]:
    tables = ("employees", "enrolments", "attendance_marks", "completions", "notifications", "audit_events",
              "cohort_applications", "cohort_reviews", "assignments", "quiz_attempts", "quiz_answers")
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in tables}


@pytest.fixture
def previous_release(make_database_url: Callable[[], str]) -> Iterator[tuple[str, Engine, Seeded]]:
    """A database at PREVIOUS_RELEASE with that release's data in it (committed)."""
    url = make_database_url()
    upgrade_database(url, PREVIOUS_RELEASE)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            seeded = _seed_previous_release(connection)
        yield url, engine, seeded
    finally:
        engine.dispose()


def _app_sees_the_data(url: str, upload_dir: Path, seeded: Seeded) -> None:
    """The new release's app on the upgraded database: the ORM loads the old rows, the person signs
    in and sees their enrolment and their certificate."""
    app: Flask = build_app(url, upload_dir)
    try:
        with app.app_context():
            employee = db_session.get(Employee, seeded.employee_id)
            assert employee is not None and employee.name == "山田花子"
            enrolment = db_session.get(Enrolment, seeded.enrolment_id)
            assert enrolment is not None and enrolment.state == EnrolmentState.CONFIRMED
            completion = db_session.get(Completion, seeded.completion_id)
            assert completion is not None
            assert (completion.certificate_code, completion.cycle, completion.valid_until) == (CERTIFICATE, 1, None)
            session = db_session.get(TrainingSession, seeded.session_id)
            assert session is not None and session.seats_taken == 1
            db_session.remove()
        client = app.test_client()
        response = factories.login(client, "E0001")
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        page = client.get(f"/enrolments/{seeded.enrolment_id}")
        assert page.status_code == 200 and COURSE_TITLE in page.get_data(as_text=True)
        transcript = client.get(f"/staff/{seeded.employee_id}/transcript")
        assert transcript.status_code == 200 and CERTIFICATE in transcript.get_data(as_text=True)
        assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    finally:
        app.extensions["manabi.engine"].dispose()


def test_a_database_of_the_previous_release_upgrades_with_its_data(
        previous_release: tuple[str, Engine, Seeded], tmp_path: Path) -> None:
    url, engine, seeded = previous_release
    before = _counts(engine)

    upgrade_database(url)

    assert _counts(engine) == before
    assert _drift(engine) == [], "models and the upgraded schema disagree"
    _app_sees_the_data(url, tmp_path, seeded)
    app = build_app(url, tmp_path)
    try:
        with app.app_context():
            # What the later revisions fill from existing rows.
            course = db_session.get(Course, seeded.course_id)
            assert course is not None
            assert (course.synced_hash, course.synced_at, course.web_edited_at) == (SYNC_HASH, seeded.synced_at, None)
            programme = db_session.get(Course, seeded.programme_id)
            assert programme is not None and programme.rubrics == {"presentation": RUBRIC}
            assert db_session.scalars(select(Review)).one().rubric == RUBRIC  # graded by it
            assignment = db_session.scalars(select(Assignment)).one()
            assert (assignment.cycle, assignment.status) == (1, "active")
            session = db_session.get(TrainingSession, seeded.session_id)
            assert session is not None and session.min_presence_pct == 75
            db_session.remove()
    finally:
        app.extensions["manabi.engine"].dispose()


def test_downgrade_to_the_previous_release_keeps_the_data_and_upgrades_again(
        previous_release: tuple[str, Engine, Seeded], tmp_path: Path) -> None:
    url, engine, seeded = previous_release
    before = _counts(engine)
    upgrade_database(url)

    command.downgrade(alembic_config(url), PREVIOUS_RELEASE)

    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == PREVIOUS_RELEASE
        # The previous release's code reads its milestone rubric again.
        rubric = connection.execute(text("SELECT rubric FROM cohort_milestones")).scalar_one()
    assert (json.loads(rubric) if isinstance(rubric, str) else rubric) == RUBRIC
    assert _counts(engine) == before

    upgrade_database(url)

    assert _counts(engine) == before
    assert _drift(engine) == [], "models and the re-upgraded schema disagree"
    _app_sees_the_data(url, tmp_path, seeded)
