"""A person's own data (issue 20): everything Manabi holds about them, in their own export and in
HR's disclosure file; nothing of anyone else; anonymous survey answers never linked."""
from __future__ import annotations

import csv
import io
import json
import re
import secrets
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app import models  # noqa: F401  (every table registered on the metadata)
from app.api.models import ApiToken
from app.assessment.models import (
    Answer,
    PendingSurveyResponse,
    Question,
    QuestionType,
    Quiz,
    QuizAttempt,
    Survey,
    SurveyQuestion,
    SurveyQuestionKind,
    SurveyReceipt,
    SurveyResponse,
)
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
from app.auth.models import LoginUnlock, UserSession
from app.catalog.models import Assignment, AssignmentStatus
from app.cohorts.models import (
    Application,
    Decision,
    Endorsement,
    FieldworkTeam,
    Milestone,
    Review,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    TeamMember,
)
from app.completion.models import Completion, CompletionSource
from app.core.clock import now
from app.core.db import Base, db_session
from app.elearning.models import ModuleProgress, ProgressState
from app.enrollment.models import CalendarFeed
from app.org.models import Employee, RoleName
from app.privacy import exports
from app.privacy.services import EMPLOYEE_COLUMNS, collect_personal_record
from app.reminders.models import DeliveryStatus, Notification, OptOut
from tests import factories
from tests.querycount import count_statements

ANONYMOUS_ANSWER = "匿名の感想 ANON-7731"
FORMULA = "=cmd|' /C calc'!A0"
FILE_BYTES = b"%PDF-1.4 my fieldwork report"


def _everything(person: Employee, other: Employee, upload_dir: Path, *, enrolments: int = 1,
                marker: str = "") -> dict[str, Any]:
    """One of every kind of personal record for `person` (text carrying `marker`); `other` acts on them."""
    at = now()
    course = factories.course()
    session = factories.training_session(course, instructors=[person])
    enrolment = factories.enrolment(person, session)
    for _ in range(enrolments - 1):
        extra = factories.course()
        factories.enrolment(person, factories.training_session(extra))
    meeting = session.meetings[0]
    db_session.add(AttendanceMark(enrolment_id=enrolment.id, meeting_id=meeting.id, status=AttendanceStatus.LATE,
                                  remark=f"電車遅延{marker}", source=MarkSource.ROSTER, marked_at=at,
                                  marked_by_id=other.id))
    upload = ParticipantImport(meeting_id=meeting.id, file_name="zoom.csv", file_format="Zoom",
                               state=ImportState.APPLIED, uploaded_at=at, uploaded_by_id=other.id)
    upload.participants.append(ImportedParticipant(first_line=2, lines="2", name=person.name, email=person.email,
                                                   intervals=[], minutes=95, match=ParticipantMatch.MATCHED,
                                                   enrolment_id=enrolment.id, matched_at=at))
    db_session.add(upload)
    quiz = Quiz(course_id=course.id, updated_at=at)
    db_session.add(quiz)
    db_session.flush()
    question = Question(quiz_id=quiz.id, position=1, type=QuestionType.SHORT, text="公文書の保存期間は？",
                        choices=[], answer="5年", points=2)
    db_session.add(question)
    db_session.flush()
    attempt = QuizAttempt(quiz_id=quiz.id, enrolment_id=enrolment.id, employee_id=person.id, attempt_no=1,
                          question_order=[question.id], started_at=at, submitted_at=at, score=1, max_score=2,
                          percent=50, passed=False)
    attempt.answers.append(Answer(question_id=question.id, response=f"たぶん3年{marker}", points_awarded=1,
                                  graded_by_id=other.id, grader_comment=f"惜しい{marker}"))
    db_session.add(attempt)
    db_session.add(Completion(employee_id=person.id, course_id=course.id, enrolment_id=enrolment.id,
                              source=CompletionSource.MANUAL, completed_on=at.date(), hours=Decimal(3),
                              certificate_code=f"CERT-{secrets.token_hex(4)}", evidence_note=f"証明{marker}",
                              recorded_at=at, recorded_by_id=other.id))
    rule = factories.assignment_rule(course, "SHUNIN")
    if db_session.scalar(select(Assignment.id).where(Assignment.employee_id == person.id)) is None:
        db_session.add(Assignment(rule_id=rule.id, employee_id=person.id, course_id=course.id, fiscal_year=2020,
                                  due_on=at.date(), status=AssignmentStatus.ACTIVE, assigned_at=at))
    db_session.add(ModuleProgress(course_id=course.id, module_key="m1", employee_id=person.id,
                                  state=ProgressState.IN_PROGRESS, last_page=2, started_at=at, updated_at=at))
    cohort = factories.cohort()
    db_session.add(Application(cohort_id=cohort.id, employee_id=person.id, statement=FORMULA + marker,
                               theme="dx", answers=["窓口の待ち時間"], endorsement=Endorsement.ENDORSED,
                               endorsed_by_id=other.id, endorsement_comment=f"推薦します{marker}",
                               decision=Decision.SELECTED, decided_by_id=other.id, created_at=at, updated_at=at))
    team = FieldworkTeam(cohort_id=cohort.id, name=f"チームA{marker}", host_unit_id=person.unit_id, theme="dx")
    team.mentors.append(person)
    db_session.add(team)
    db_session.flush()
    db_session.add(TeamMember(team_id=team.id, cohort_id=cohort.id, employee_id=person.id))
    milestone = db_session.scalars(select(Milestone).where(Milestone.cohort_id == cohort.id)).first()
    assert milestone is not None
    stored = secrets.token_hex(20)
    (upload_dir / "cohorts").mkdir(parents=True, exist_ok=True)
    (upload_dir / "cohorts" / stored).write_bytes(FILE_BYTES)
    submission = Submission(milestone_id=milestone.id, employee_id=person.id, version=1, text=f"報告{marker}",
                            submitted_by_id=person.id, submitted_at=at, status=SubmissionStatus.ACCEPTED,
                            files=[SubmissionFile(original_name="../報告書.pdf", stored_name=stored,
                                                  content_type="application/pdf", size=len(FILE_BYTES))])
    submission.reviews.append(Review(mentor_id=other.id, accepted=True, points=8, max_points=10,
                                     comment=f"よくできました{marker}", created_at=at))
    db_session.add(submission)
    db_session.add(Notification(recipient_id=person.id, kind="test_privacy", dedupe_key=f"t-{secrets.token_hex(6)}",
                                context={}, status=DeliveryStatus.SENT, due_at=at, next_attempt_at=at, sent_at=at,
                                subject=f"研修のお知らせ{marker}", created_at=at))
    db_session.add(OptOut(employee_id=person.id, kind="digest"))
    db_session.add(UserSession(token_hash=secrets.token_hex(32), employee_id=person.id, created_at=at,
                               last_seen_at=at, user_agent="Firefox / Linux", address="192.0.2.7"))
    db_session.add(LoginUnlock(token_hash=secrets.token_hex(32), employee_id=person.id, created_at=at,
                               expires_at=at + timedelta(hours=1)))
    db_session.add(ApiToken(employee_id=person.id, name="集計スクリプト", scopes="read", hint="mnb_ab12",
                            token_hash=secrets.token_hex(32), created_at=at, expires_at=at + timedelta(days=90)))
    db_session.add(CalendarFeed(employee_id=person.id, token=secrets.token_hex(16), created_at=at))
    # a named survey (answers carry the person) and an anonymous one (they carry nobody)
    named_course, anonymous_course = factories.course(), factories.course()
    named = Survey(course_id=named_course.id, is_anonymous=False)
    anonymous = Survey(course_id=anonymous_course.id, is_anonymous=True)
    db_session.add_all([named, anonymous])
    db_session.flush()
    named_question = SurveyQuestion(survey_id=named.id, position=1, kind=SurveyQuestionKind.TEXT,
                                    text_ja="役立ちましたか", text_en="Useful?")
    db_session.add(named_question)
    db_session.flush()
    db_session.add(SurveyResponse(id=secrets.token_hex(16), survey_id=named.id, session_id=session.id,
                                  employee_id=person.id, released_on=at.date(),
                                  answers={str(named_question.id): f"とても{marker}"}))
    db_session.add(PendingSurveyResponse(id=secrets.token_hex(16), survey_id=named.id, session_id=session.id,
                                         employee_id=person.id, answers={str(named_question.id): "まあまあ"}))
    db_session.add(SurveyResponse(id=secrets.token_hex(16), survey_id=anonymous.id, session_id=session.id,
                                  employee_id=None, released_on=at.date(), answers={"1": ANONYMOUS_ANSWER}))
    db_session.add(SurveyReceipt(survey_id=anonymous.id, enrolment_id=enrolment.id, answered_on=at.date()))
    db_session.add(AuditEvent(occurred_at=at, actor_id=other.id, action="auth.password_changed",
                              target_type="employee", target_id=str(person.id), summary=f"本人について{marker}"))
    db_session.add(AuditEvent(occurred_at=at, actor_id=person.id, action="auth.role_granted",
                              target_type="employee", target_id=str(other.id), summary=f"{other.name} に付与"))
    db_session.commit()
    return {"stored": stored}


@pytest.fixture
def world(app: Flask):  # type: ignore[no-untyped-def]
    upload_dir = Path(app.config["UPLOAD_DIR"])
    with app.test_request_context():
        unit = factories.unit()
        person = factories.employee(unit, name="開示 花子", email="hanako.kaiji@pref.example.lg.jp",
                                    roles=(RoleName.MENTOR,), heads=factories.unit())
        other = factories.employee(unit, name="他人 次郎", email="jiro.tanin@pref.example.lg.jp")
        hr = factories.employee(name="人事 三郎", roles=(RoleName.HR,))
        files = _everything(person, other, upload_dir)
        _everything(other, person, upload_dir, marker="OTHER-9912")
        ids = {"person": person.id, "other": other.id, "hr": hr.id}
    return {**ids, "upload_dir": upload_dir, **files}


def _person(ident: int) -> Employee:
    found = db_session.get(Employee, ident)
    assert found is not None
    return found


def test_every_section_holds_the_persons_data_and_nothing_of_another(app, world):  # type: ignore[no-untyped-def]
    with app.test_request_context():
        record = collect_personal_record(world["person"])
        empty = [key for key, count in record.counts().items() if count == 0]
        assert empty == []
        text = exports.to_json(record)
        other = _person(world["other"])
    document = json.loads(text)
    assert document["name"] == "開示 花子" and "開示 花子" in text  # UTF-8, not \u escapes
    assert "OTHER-9912" not in text
    assert other.email not in text and other.employee_number not in text and other.name not in text
    assert world["stored"] not in text  # where the file lies on the server is not the person's data
    sections = document["sections"]
    assert sections["attendance"]["rows"][0]["status"] == "late"
    assert sections["attendance"]["rows"][0]["status_label"]
    assert sections["quiz_answers"]["rows"][0]["grader_comment"] == "惜しい"
    assert sections["submission_files"]["rows"][0]["file_name"] == "../報告書.pdf"
    assert sections["sign_in_sessions"]["rows"][0]["address"] == "192.0.2.7"
    (sent,) = [row for row in sections["notifications"]["rows"] if row["kind"] == "test_privacy"]
    assert sent["sent_at"].endswith("+09:00") and sent["subject"] == "研修のお知らせ"
    assert [row["answer"] for row in sections["survey_answers"]["rows"]] == ["とても", "まあまあ"]
    events = {(row["action"], row["about_them"], row["by_self"]): row["summary"]
              for row in sections["audit_events"]["rows"]}
    assert events[("auth.password_changed", True, False)] == "本人について"
    # what they did to someone else: action and time only
    assert events[("auth.role_granted", False, True)] == events[("auth.password_changed", False, True)] == ""


def test_anonymous_survey_answers_are_not_linked_and_the_export_says_so(app, world):  # type: ignore[no-untyped-def]
    with app.test_request_context():
        record = collect_personal_record(world["person"])
        text = exports.to_json(record)
        archive = zipfile.ZipFile(io.BytesIO(exports.self_export_zip(record)))
        every_csv = "".join(archive.read(name).decode("utf-8-sig") for name in archive.namelist())
    assert ANONYMOUS_ANSWER not in text and ANONYMOUS_ANSWER not in every_csv
    (note,) = json.loads(text)["notes"]
    assert note.startswith("匿名アンケートの回答は誰とも結び付けられていない")
    assert "匿名アンケートの回答は誰とも結び付けられていない" in every_csv  # README.txt


def test_csv_cells_that_look_like_formulas_are_neutralised(app, world):  # type: ignore[no-untyped-def]
    with app.test_request_context():
        archive = zipfile.ZipFile(io.BytesIO(exports.self_export_zip(collect_personal_record(world["person"]))))
    name = next(n for n in archive.namelist() if n.endswith("-cohort_applications.csv"))
    raw = archive.read(name)
    assert raw.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["statement"] == "'" + FORMULA
    assert all(not cell.startswith("=") for row in rows for cell in row.values())


@pytest.mark.parametrize(("number", "expected"), [
    ("T00123", "T00123"), ("../../etc/passwd", "etcpasswd"), ('A"1\r\n; x=1', "A1x1"), ("職員", "unknown"),
])
def test_file_names_are_safe_ascii(number: str, expected: str) -> None:
    assert exports.safe_number(number) == expected


def test_every_column_that_refers_to_an_employee_is_covered_or_excluded_with_a_reason() -> None:
    found = {f"{table.name}.{column.name}" for table in Base.metadata.tables.values() for column in table.columns
             for fk in column.foreign_keys if fk.column.table.name == "employees"}
    listed = set(EMPLOYEE_COLUMNS) - {"employees.id"}
    assert found - listed == set(), "a new column refers to employees: export it or say why not in EMPLOYEE_COLUMNS"
    assert listed - found == set(), "EMPLOYEE_COLUMNS names a column that no longer exists"
    assert all(reason.strip() for reason in EMPLOYEE_COLUMNS.values())


def test_statements_do_not_grow_with_the_records(app) -> None:  # type: ignore[no-untyped-def]
    upload_dir = Path(app.config["UPLOAD_DIR"])
    with app.test_request_context():
        counts = []
        for enrolments in (1, 5):
            person, other = factories.employee(), factories.employee()
            _everything(person, other, upload_dir, enrolments=enrolments)
            person_id = person.id
            db_session.expire_all()
            with count_statements(app) as counter:
                record = collect_personal_record(person_id)
            assert record.counts()["enrolments"] == enrolments
            counts.append(counter.count)
    # one statement per section (endorsements share the applications' rows), and the named survey
    # answers take three (released, waiting, their questions): two more
    assert counts[0] == counts[1] == len(record.sections) - 1 + 2


# --- the account page ------------------------------------------------------------------------------


def _download_name(response) -> str:  # type: ignore[no-untyped-def]
    match = re.fullmatch(r'attachment; filename="([^"]+)"', response.headers["Content-Disposition"])
    assert match, response.headers["Content-Disposition"]
    return match.group(1)


def test_the_person_downloads_their_own_data_as_json_and_csv(app, world) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    with app.app_context():
        person = _person(world["person"])
        factories.login_as(client, person)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/account/my-data"' in home
    page = client.get("/account/my-data")
    assert page.status_code == 200 and "自分のデータ" in page.get_data(as_text=True)

    response = factories.post(client, f"/account/my-data/download?employee_id={world['other']}",
                              {"file_format": "json"}, form_page="/account/my-data")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"manabi-personal-data-[A-Za-z0-9_-]+-\d{4}-\d{2}-\d{2}\.json", _download_name(response))
    document = json.loads(response.get_data(as_text=True))
    assert document["employee_number"] == person.employee_number  # their own, whatever the address says
    assert "OTHER-9912" not in response.get_data(as_text=True)

    response = factories.post(client, "/account/my-data/download", {"file_format": "zip"},
                              form_page="/account/my-data")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert _download_name(response).endswith(".zip")
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert "README.txt" in names and "05-enrolments.csv" in names
    with app.app_context():
        events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.self_export",
                                                             AuditEvent.actor_id == world["person"])).all()
        assert [event.after for event in events] == [{"format": "json"}, {"format": "zip"}]


def test_the_download_needs_a_signed_in_person(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    response = client.get("/account/my-data")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_employee_cannot_produce_someone_elses_file(app, world) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    with app.app_context():
        factories.login_as(client, _person(world["person"]))
    assert client.get(f"/admin/staff/{world['other']}/disclosure").status_code == 403
    response = factories.post(client, f"/admin/staff/{world['other']}/disclosure", {"reference": "R-1"})
    assert response.status_code == 403
    with app.app_context():
        assert db_session.scalar(select(AuditEvent.id).where(AuditEvent.action.like("privacy.%"))) is None


# --- HR's disclosure file --------------------------------------------------------------------------


def test_hr_produces_the_disclosure_file_with_a_reference(app, world) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    with app.app_context():
        hr = _person(world["hr"])
        person = _person(world["person"])
        factories.login_as(client, hr)
    path = f"/admin/staff/{world['person']}/disclosure"
    staff_page = client.get(f"/org/staff/{world['person']}").get_data(as_text=True)
    assert f'href="{path}"' in staff_page
    page = client.get(path)
    assert page.status_code == 200 and "開示請求の記録を作成" in page.get_data(as_text=True)

    for bad in ("", "  ", "R\x07-1", "R\u202e-1", "x" * 41):
        response = factories.post(client, path, {"reference": bad}, form_page=path)
        assert response.status_code == 400, repr(bad)
        assert response.mimetype == "text/html"
    with app.app_context():
        assert db_session.scalar(select(AuditEvent.id).where(AuditEvent.action == "privacy.disclosure_produced")) \
            is None

    response = factories.post(client, path, {"reference": " 人事第2026-15号 "}, form_page=path)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"manabi-disclosure-[A-Za-z0-9_-]+-\d{4}-\d{2}-\d{2}\.zip", _download_name(response))
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    readme = archive.read("README.txt").decode("utf-8")
    assert "開示 花子" in readme and person.employee_number in readme
    assert "人事第2026-15号" in readme and "人事 三郎" in readme and "作成日時" in readme
    assert "personal-data.json" in names and any(n.startswith("csv/") and n.endswith(".csv") for n in names)
    (uploaded,) = [n for n in names if n.startswith("files/")]
    assert uploaded == "files/001-報告書.pdf" and archive.read(uploaded) == FILE_BYTES
    assert "OTHER-9912" not in archive.read("personal-data.json").decode("utf-8")

    with app.app_context():
        (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.disclosure_produced"))
        assert event.actor_id == world["hr"] and event.target_id == str(world["person"])
        assert event.after is not None
        assert event.after["reference"] == "人事第2026-15号" and event.after["files"] == 1
        assert event.after["counts"]["enrolments"] == 1
        assert "開示 花子" not in json.dumps(event.after, ensure_ascii=False) + event.summary


def test_a_file_already_removed_is_left_out_and_said_so(app, world) -> None:  # type: ignore[no-untyped-def]
    (world["upload_dir"] / "cohorts" / world["stored"]).unlink()
    client = app.test_client()
    with app.app_context():
        factories.login_as(client, _person(world["hr"]))
    path = f"/admin/staff/{world['person']}/disclosure"
    response = factories.post(client, path, {"reference": "R-2"}, form_page=path)
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert not [n for n in archive.namelist() if n.startswith("files/")]
    assert "1 件は保存期間の経過などにより既に削除されています" in archive.read("README.txt").decode("utf-8")
