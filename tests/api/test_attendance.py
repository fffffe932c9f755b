"""A meeting's attendance through the API, as an instructor's (or HR's) program sees it: the roster
with each mark and its ETag, in a fixed number of statements; a mark set with If-Match (428
without, 412 when someone marked meanwhile), by the web roster's rules (409 with its message),
audited with its actor, followed at once by completion; nobody else sees the meeting (404), a
token without the scope or a system account is refused (403). Two marks at once, on both
databases: one wins, the other is told 412, one mark."""
from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from hypothesis import HealthCheck, settings
from sqlalchemy import select, update

from app.api.attendance import SINGLE_LINE_PATTERN
from app.attendance.models import AttendanceMark, AttendanceStatus, MarkSource
from app.attendance.services import set_mark
from app.audit.models import AuditEvent
from app.completion.models import Completion
from app.core.clock import now
from app.core.db import db_session
from app.core.text_safety import find_unsafe
from app.enrollment.models import Enrolment
from app.enrollment.services import cancel
from app.org.models import Employee, RoleName
from app.scheduling.models import Meeting, TrainingSession
from app.web.ids import ID_MAX
from tests import factories
from tests.api.conftest import bearer, client_token, make_client, make_token
from tests.api.test_schemathesis import schema as api_schema
from tests.conftest import build_app, migrate
from tests.http_client import Response, release_together, serve_in_thread
from tests.querycount import count_statements

ATTEND = ("read", "attend")


@dataclass
class Class_:
    """A session in two weeks with its instructor, and its confirmed participants."""

    meeting_id: int
    session_id: int
    instructor: Employee
    enrolment_ids: list[int]
    people: list[Employee]


def a_class(people: int = 2, *, instructors: int = 1) -> Class_:
    teachers = [factories.employee(roles=(RoleName.INSTRUCTOR,)) for _ in range(instructors)]
    session = factories.training_session(factories.course(), capacity=max(people, 1), instructors=teachers)
    staff = [factories.employee() for _ in range(people)]
    enrolments = [factories.enrolment(person, session).id for person in staff]
    return Class_(session.meetings[0].id, session.id, teachers[0], enrolments, staff)


def _problem(response, status):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.content_type == "application/problem+json"
    return response.get_json()


def _url(meeting_id: int, enrolment_id: int | None = None) -> str:
    return f"/api/v1/meetings/{meeting_id}/attendance" + (f"/{enrolment_id}" if enrolment_id else "")


def _row(client, secret: str, meeting_id: int, enrolment_id: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    roster = client.get(_url(meeting_id), headers=bearer(secret))
    assert roster.status_code == 200, roster.get_data(as_text=True)[:300]
    (row,) = [r for r in roster.get_json()["items"] if r["enrolment_id"] == enrolment_id]
    return row  # type: ignore[no-any-return]


def _put(client, secret: str, meeting_id: int, enrolment_id: int, etag: str | None, **body: str):  # type: ignore[no-untyped-def]
    headers = bearer(secret, **({"If-Match": etag} if etag is not None else {}))
    return client.put(_url(meeting_id, enrolment_id), headers=headers, json=body)


def _mark(enrolment_id: int, meeting_id: int) -> AttendanceMark | None:
    return db_session.scalar(select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment_id,
                                                         AttendanceMark.meeting_id == meeting_id))


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    """Time stands still: every request of the test falls in one rate-limit minute."""
    with time_machine.travel(datetime.now(UTC), tick=False):
        yield


# --- reading the roster ------------------------------------------------------------------------


def test_the_instructor_reads_the_roster_with_marks_in_a_fixed_number_of_statements(app, client, frozen):
    with app.app_context():
        small, large = a_class(1), a_class(20)
        for taught in (small, large):  # one person of each marked on the roster, with a remark
            set_mark(taught.instructor, db_session.get(Enrolment, taught.enrolment_ids[0]),
                     db_session.get(Meeting, taught.meeting_id), AttendanceStatus.LATE, "電車遅延")
        db_session.commit()
        secrets = [make_token(small.instructor), make_token(large.instructor)]
        meeting = db_session.get(Meeting, large.meeting_id)
        starts_at, ends_at = meeting.starts_at, meeting.ends_at
        people = [(p.employee_number, p.name) for p in large.people]
    counts, bodies = [], []
    for taught, secret in zip((small, large), secrets, strict=True):
        client.get("/api/v1/courses?limit=1", headers=bearer(secret))  # the minute's first request notes the use
        with count_statements(app) as counted:
            answer = client.get(_url(taught.meeting_id), headers=bearer(secret))
        assert answer.status_code == 200
        counts.append(counted.count)
        bodies.append(answer.get_json())
    # the token with its owner, the owner's roles, the rate window, the meeting, whether the caller heads a
    # unit (their standing), the session, its instructors, the confirmed places with their people, the
    # people's roles, the meeting's marks: as many for 20 people as for one
    assert counts == [10, 10], counts
    body = bodies[1]
    assert (body["meeting_id"], body["session_id"]) == (large.meeting_id, large.session_id)
    assert (datetime.fromisoformat(body["starts_at"]), datetime.fromisoformat(body["ends_at"])) == (starts_at, ends_at)
    items = body["items"]
    assert [i["enrolment_id"] for i in items] == large.enrolment_ids
    assert [(i["employee_number"], i["name"]) for i in items] == people
    first, *rest = items
    assert (first["status"], first["note"], first["source"], first["counted"]) == ("late", "電車遅延", "roster", True)
    assert datetime.fromisoformat(first["marked_at"]) <= datetime.now(UTC)
    assert {(i["status"], i["note"], i["source"], i["marked_at"]) for i in rest} == {(None, "", None, None)}
    assert len({i["etag"] for i in items}) == 20  # one per row, unmarked rows included


# --- setting a mark ----------------------------------------------------------------------------


def test_the_instructor_marks_present_then_absent_with_the_etag_read(app, client):
    with app.app_context():
        taught = a_class(1)
        secret = make_token(taught.instructor, ATTEND)
        instructor_id, (enrolment_id,) = taught.instructor.id, taught.enrolment_ids
    unmarked = _row(client, secret, taught.meeting_id, enrolment_id)
    assert unmarked["status"] is None
    _problem(_put(client, secret, taught.meeting_id, enrolment_id, None, status="present"), 428)

    present = _put(client, secret, taught.meeting_id, enrolment_id, unmarked["etag"], status="present")

    assert present.status_code == 200, present.get_data(as_text=True)
    assert (present.get_json()["status"], present.get_json()["source"]) == ("present", "roster")
    assert present.headers["ETag"] == present.get_json()["etag"] != unmarked["etag"]
    assert _row(client, secret, taught.meeting_id, enrolment_id) == present.get_json()  # what a reader sees next
    # the "unmarked" ETag no longer matches: a client that read it before is refused
    _problem(_put(client, secret, taught.meeting_id, enrolment_id, unmarked["etag"], status="excused"), 412)

    absent = _put(client, secret, taught.meeting_id, enrolment_id, present.headers["ETag"],
                  status="absent", note="連絡なし")

    assert absent.status_code == 200
    assert (absent.get_json()["status"], absent.get_json()["note"]) == ("absent", "連絡なし")
    with app.app_context():
        mark = _mark(enrolment_id, taught.meeting_id)
        assert (mark.status, mark.remark, mark.marked_by_id) == (AttendanceStatus.ABSENT, "連絡なし", instructor_id)
        events = list(db_session.scalars(select(AuditEvent).where(
            AuditEvent.action == "attendance.marked", AuditEvent.target_id == f"{enrolment_id}:{taught.meeting_id}")
            .order_by(AuditEvent.id)))
        assert [(e.actor_id, e.before, e.after) for e in events] == [
            (instructor_id, None, {"status": "present", "remark": "", "source": "roster"}),
            (instructor_id, {"status": "present", "remark": ""},
             {"status": "absent", "remark": "連絡なし", "source": "roster"})]


def test_a_check_in_made_since_the_roster_was_read_is_kept(app, client):
    with app.app_context():
        taught = a_class(1)
        secret = make_token(taught.instructor, ATTEND)
        (enrolment_id,), (person,) = taught.enrolment_ids, taught.people
    read = _row(client, secret, taught.meeting_id, enrolment_id)
    with app.app_context():  # the person checks in (their own QR check-in) meanwhile
        set_mark(db_session.get(Employee, person.id), db_session.get(Enrolment, enrolment_id),
                 db_session.get(Meeting, taught.meeting_id), AttendanceStatus.PRESENT, source=MarkSource.CHECK_IN)
        db_session.commit()

    _problem(_put(client, secret, taught.meeting_id, enrolment_id, read["etag"], status="absent"), 412)

    with app.app_context():
        mark = _mark(enrolment_id, taught.meeting_id)
        assert (mark.status, mark.source) == (AttendanceStatus.PRESENT, MarkSource.CHECK_IN)


def test_hr_marks_any_meeting_and_completion_follows_at_once(app, client):
    with app.app_context():
        taught = a_class(1)  # the course asks for full attendance of its one meeting, nothing else
        hr = factories.employee(roles=(RoleName.HR,))
        secret = make_token(hr, ATTEND)
        (enrolment_id,), (person,) = taught.enrolment_ids, taught.people

    def completions() -> list[tuple[int | None, bool]]:
        with app.app_context():
            return [(c.enrolment_id, c.revoked_at is not None) for c in db_session.scalars(
                select(Completion).where(Completion.employee_id == person.id).order_by(Completion.id))]

    etag = _row(client, secret, taught.meeting_id, enrolment_id)["etag"]
    present = _put(client, secret, taught.meeting_id, enrolment_id, etag, status="present")
    assert present.status_code == 200
    assert completions() == [(enrolment_id, False)]
    # corrected to absent: the rule no longer holds, the completion is revoked (kept as history)
    absent = _put(client, secret, taught.meeting_id, enrolment_id, present.headers["ETag"], status="absent")
    assert absent.status_code == 200
    assert completions() == [(enrolment_id, True)]


@pytest.mark.parametrize(("body", "field_"), [
    ({"status": "asleep"}, "status"),
    ({"status": None}, "status"),
    ({}, "status"),
    ({"status": "present", "note": "一行目\n二行目"}, "note"),
    ({"status": "present", "note": "右から\u202e左へ"}, "note"),
    ({"status": "present", "note": "あ" * 301}, "note"),
    ({"status": "present", "note": "\ud800"}, "note"),  # a lone surrogate, as a JSON escape
    ({"status": "present", "note": 5}, "note"),
])
def test_an_unknown_status_or_an_unsafe_note_is_a_problem_naming_the_field(app, client, body, field_):
    with app.app_context():
        taught = a_class(1)
        secret = make_token(taught.instructor, ATTEND)
        (enrolment_id,) = taught.enrolment_ids
    answer = client.put(_url(taught.meeting_id, enrolment_id), headers=bearer(secret, **{"If-Match": "*"}), json=body)
    problem = _problem(answer, 422)
    assert [(e["field"], e["in"]) for e in problem["errors"]] == [(field_, "json")]
    with app.app_context():
        assert _mark(enrolment_id, taught.meeting_id) is None


def test_the_document_lists_the_statuses_and_the_note_limit(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    request = next(s for name, s in schemas.items() if name.startswith("MarkRequest"))
    assert request["properties"]["status"]["enum"] == ["present", "late", "left_early", "absent", "excused"]
    assert request["properties"]["note"]["maxLength"] == 300  # the web roster's remark
    assert request["required"] == ["status"]


def test_the_documented_note_pattern_is_the_safe_text_rule():
    pattern = re.compile(SINGLE_LINE_PATTERN)
    disagree = [f"U+{c:04X}" for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF  # no UTF-8 holds these
                and (pattern.fullmatch(chr(c)) is None) != (find_unsafe(chr(c)) is not None)]
    assert disagree == []


def test_the_roster_rules_refuse_with_the_web_roster_message(app, client):
    with app.app_context():
        taught, elsewhere = a_class(3), a_class(1)
        hr = factories.employee(roles=(RoleName.HR,))
        secret = make_token(hr, ATTEND)
        cancelled_id, late_id, kept = taught.enrolment_ids
        cancel(hr, db_session.get(Enrolment, cancelled_id))
        # the meeting was last week, and one person got their place only yesterday
        held = now() - timedelta(days=7)
        db_session.execute(update(Meeting).where(Meeting.id == taught.meeting_id).values(
            starts_at=held, ends_at=held + timedelta(hours=3)))
        db_session.execute(update(TrainingSession).where(TrainingSession.id == taught.session_id).values(
            starts_at=held, ends_at=held + timedelta(hours=3)))
        db_session.execute(update(Enrolment).where(Enrolment.id.in_(taught.enrolment_ids)).values(
            confirmed_at=held - timedelta(days=1)))
        db_session.execute(update(Enrolment).where(Enrolment.id == late_id).values(
            confirmed_at=now() - timedelta(days=1)))
        db_session.commit()
    roster = client.get(_url(taught.meeting_id), headers=bearer(secret)).get_json()["items"]
    assert [(r["enrolment_id"], r["counted"]) for r in roster] == [(late_id, False), (kept, True)]

    headers = bearer(secret, **{"If-Match": "*", "Accept-Language": "ja"})
    not_on_roster = _problem(client.put(_url(taught.meeting_id, cancelled_id), headers=headers,
                                        json={"status": "absent"}), 409)
    assert not_on_roster["detail"] == "この方はこの日程の受講者ではありません。"
    after = _problem(client.put(_url(taught.meeting_id, late_id), headers=headers, json={"status": "absent"}), 409)
    assert after["detail"] == "この回の後に申込：対象外"
    _problem(client.put(_url(taught.meeting_id, elsewhere.enrolment_ids[0]), headers=headers,
                        json={"status": "absent"}), 404)
    _problem(client.put(_url(taught.meeting_id, 2_000_000_000), headers=headers, json={"status": "absent"}), 404)
    assert client.put(_url(taught.meeting_id, kept), headers=headers, json={"status": "absent"}).status_code == 200
    with app.app_context():
        assert [_mark(e, taught.meeting_id) is not None for e in taught.enrolment_ids] == [False, False, True]


# --- who may ----------------------------------------------------------------------------------


def test_nobody_else_sees_the_meeting(app, client):
    with app.app_context():
        taught, other = a_class(1), a_class(1)
        (enrolment_id,), (participant,) = taught.enrolment_ids, taught.people
        secrets = {"another session's instructor": make_token(other.instructor, ATTEND),
                   "the participant": make_token(participant, ATTEND),
                   "an administrator": make_token(factories.employee(roles=(RoleName.ADMIN,)), ATTEND)}
    for who, secret in secrets.items():
        assert client.get(_url(taught.meeting_id), headers=bearer(secret)).status_code == 404, who
        answer = _put(client, secret, taught.meeting_id, enrolment_id, "*", status="present")
        assert answer.status_code == 404, who
    with app.app_context():
        assert _mark(enrolment_id, taught.meeting_id) is None


def test_a_token_without_the_attend_scope_reads_but_cannot_mark(app, client):
    with app.app_context():
        taught = a_class(1)
        secret = make_token(taught.instructor, ("read", "enrol"))
        (enrolment_id,) = taught.enrolment_ids
    etag = _row(client, secret, taught.meeting_id, enrolment_id)["etag"]
    refused = _problem(_put(client, secret, taught.meeting_id, enrolment_id, etag, status="present"), 403)
    assert "attend" in refused["detail"]
    with app.app_context():
        assert _mark(enrolment_id, taught.meeting_id) is None


def test_a_system_account_is_refused(app, client):
    with app.app_context():
        taught = a_class(1)
        client_id, client_secret = make_client("hr", ("read", "staff"), name="研修管理連携")
    secret = client_token(client, client_id, client_secret)
    _problem(client.get(_url(taught.meeting_id), headers=bearer(secret)), 403)
    _problem(_put(client, secret, taught.meeting_id, taught.enrolment_ids[0], "*", status="present"), 403)


# --- two marks at once, on both databases -------------------------------------------------------


@dataclass
class Site:
    app: Flask
    port: int
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("api-attendance-race")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
    with serve_in_thread(application, "api-attendance-live-server") as (port, errors):
        yield Site(application, port, errors)


def _put_json(site: Site, path: str, secret: str, etag: str, body: dict[str, str]
              ) -> Callable[[http.client.HTTPConnection], Response]:
    def send(connection: http.client.HTTPConnection) -> Response:
        try:
            connection.request("PUT", path, body=json.dumps(body), headers={
                "Authorization": f"Bearer {secret}", "If-Match": etag, "Content-Type": "application/json"})
            raw = connection.getresponse()
            return Response(raw.status, raw.msg, raw.read().decode("utf-8", "replace"))
        finally:
            connection.close()

    return send


@pytest.mark.parametrize("before", [None, AttendanceStatus.ABSENT])
def test_two_marks_of_one_row_at_once_one_wins_the_other_is_told_412(site: Site, before: AttendanceStatus | None):
    site.errors.clear()
    with site.app.app_context():
        taught = a_class(1)
        hr = factories.employee(roles=(RoleName.HR,))
        (enrolment_id,) = taught.enrolment_ids
        if before is not None:
            set_mark(taught.instructor, db_session.get(Enrolment, enrolment_id),
                     db_session.get(Meeting, taught.meeting_id), before)
            db_session.commit()
        secrets = [make_token(taught.instructor, ATTEND), make_token(hr, ATTEND)]
    etag = _row(site.app.test_client(), secrets[0], taught.meeting_id, enrolment_id)["etag"]
    path = _url(taught.meeting_id, enrolment_id)
    jobs = [_put_json(site, path, secrets[0], etag, {"status": "present", "note": "講師"}),
            _put_json(site, path, secrets[1], etag, {"status": "excused", "note": "人事"})]
    connections = [http.client.HTTPConnection("127.0.0.1", site.port, timeout=120) for _ in jobs]
    for connection in connections:
        connection.connect()

    results = release_together(jobs, connections)

    assert not site.errors, site.errors
    statuses = [r if isinstance(r, BaseException) else r.status for r in results]
    assert sorted(statuses) == [200, 412], [r if isinstance(r, BaseException) else r.text[:300] for r in results]
    winner = results[statuses.index(200)]
    assert not isinstance(winner, BaseException)
    told = json.loads(winner.text)
    with site.app.app_context():
        marks = list(db_session.scalars(select(AttendanceMark).where(AttendanceMark.meeting_id == taught.meeting_id)))
        assert [(m.status.value, m.remark) for m in marks] == [(told["status"], told["note"])]
        audited = db_session.scalars(select(AuditEvent).where(
            AuditEvent.action == "attendance.marked",
            AuditEvent.target_id == f"{enrolment_id}:{taught.meeting_id}")).all()
        assert len(audited) == (1 if before is None else 2)  # the winner's change, once


# --- the contract, with rows that exist ----------------------------------------------------------
# tests/api/test_schemathesis.py runs over the whole document with a person who takes no meeting
# (every id is a 404 there); here HR sends generated bodies to a real row of a real meeting.

attendance_schema = api_schema.include(path_regex=r"^/api/v1/meetings/")


@dataclass
class Taught:
    secret: str
    ids: dict[str, int]


@pytest.fixture
def taught(app, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 100_000)  # the limit has its own test
    with app.app_context():
        place = a_class(1)
        secret = make_token(factories.employee(roles=(RoleName.HR,)), ATTEND)
        return Taught(secret, {"meeting_id": place.meeting_id, "enrolment_id": place.enrolment_ids[0]})


@attendance_schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_attendance_endpoints_keep_their_contract(app, case, taught):  # type: ignore[no-untyped-def]
    for name, value in (case.path_parameters or {}).items():  # an id the document allows: the real row's
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= ID_MAX and name in taught.ids:
            case.path_parameters[name] = taught.ids[name]
    if case.headers and "If-Match" in case.headers:
        case.headers["If-Match"] = "*"
    case.call_and_validate(app=app, headers=bearer(taught.secret))
