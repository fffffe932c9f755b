"""A manager's (and HR's) approvals through the API: what a program deciding requests notices. The
queue is the web approvals page's, a decision goes through the same services (and audit trail),
the requester sees it on /me/enrolments, If-Match makes a retry harmless, a request one may not
decide does not exist, and two approvers deciding at once record one decision (both databases)."""
from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.clock import today
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentEvent, EnrolmentState
from app.org.models import Employee, RoleName
from app.org.services import transfer_employee
from tests import factories
from tests.api.conftest import bearer, client_token, make_client, make_token
from tests.http_client import Response, release_together
from tests.live_site import Site, served_site
from tests.querycount import count_statements

APPROVER_SCOPES = ("read", "approve")


@dataclass
class Team:
    manager_id: int
    member_ids: list[int]
    manager: str  # the manager's token (read, approve)
    members: list[str]  # each member's token (read, enrol)


def _team(size: int = 1) -> Team:
    """A division with its head and `size` staff (call inside an app context)."""
    division = factories.unit()
    manager = factories.employee(division, "KACHO", heads=division)
    members = [factories.employee(division) for _ in range(size)]
    return Team(manager.id, [m.id for m in members], make_token(manager, APPROVER_SCOPES),
                [make_token(m) for m in members])


def _request(member_id: int, policy: str = "manager") -> int:
    """The member asks for a place in a new session that needs approval: a pending request."""
    member = db_session.get(Employee, member_id)
    enrolment = factories.enrolment(member, factories.training_session(factories.course(), policy=policy))
    assert enrolment.state == EnrolmentState.PENDING
    return enrolment.id


def _problem(response, status):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.content_type == "application/problem+json"
    return response.get_json()


def _decide(client, secret, enrolment_id, etag, **body):  # type: ignore[no-untyped-def]
    headers = bearer(secret, **({"If-Match": etag} if etag is not None else {}))
    return client.post(f"/api/v1/approvals/{enrolment_id}/decision", headers=headers, json=body)


def test_a_manager_lists_and_approves_their_team_members_request(app, client):
    with app.app_context():
        team = _team()
        request_id = _request(team.member_ids[0])
        elsewhere = _team()
        _request(elsewhere.member_ids[0])  # another team's: not in this manager's queue
        member = db_session.get(Employee, team.member_ids[0])
        number, name, unit_code, grade_code = (member.employee_number, member.name, member.unit.code,
                                               member.grade.code)
        enrolment = db_session.get(Enrolment, request_id)
        course_code, session_id = enrolment.course.code, enrolment.session_id

    listed = client.get("/api/v1/approvals", headers=bearer(team.manager))
    assert listed.status_code == 200
    [item] = listed.get_json()["items"]
    assert listed.get_json()["links"]["next"] is None
    assert (item["id"], item["employee_number"], item["employee_name"], item["unit_code"], item["grade_code"],
            item["course_code"], item["session_id"]) == (request_id, number, name, unit_code, grade_code,
                                                         course_code, session_id)
    assert (item["state"], item["approval_stage"], item["may_decide_now"]) == ("pending", "manager", True)
    assert item["unit_name"] and item["grade_name"] and item["course_title"] and item["starts_at"]

    read = client.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager))
    assert read.status_code == 200 and read.get_json() == item
    etag = read.headers["ETag"]
    # one ETag everywhere: the requester's own copy of the enrolment carries the same
    assert client.get(f"/api/v1/me/enrolments/{request_id}", headers=bearer(team.members[0])).headers["ETag"] == etag

    _problem(_decide(client, team.manager, request_id, None, decision="approve"), 428)
    approved = _decide(client, team.manager, request_id, etag, decision="approve")
    assert approved.status_code == 200, approved.get_data(as_text=True)
    assert (approved.get_json()["state"], approved.get_json()["approval_stage"],
            approved.get_json()["may_decide_now"]) == ("confirmed", "approved", False)
    assert approved.headers["ETag"] != etag

    mine = client.get("/api/v1/me/enrolments", headers=bearer(team.members[0])).get_json()["items"]
    assert [(e["id"], e["state"]) for e in mine] == [(request_id, "confirmed")]
    assert client.get("/api/v1/approvals", headers=bearer(team.manager)).get_json()["items"] == []
    # a retry of the same decision changes nothing: the ETag has moved on, and "*" is told why
    _problem(_decide(client, team.manager, request_id, etag, decision="approve"), 412)
    assert _problem(_decide(client, team.manager, request_id, "*", decision="decline", reason="やはり"),
                    409)["detail"]
    with app.app_context():
        events = db_session.execute(select(AuditEvent.action, AuditEvent.actor_id).where(
            AuditEvent.target_type == "enrolment", AuditEvent.target_id == str(request_id))).all()
        assert [tuple(e) for e in events] == [("enrollment.approved", team.manager_id)]
        assert db_session.get(Enrolment, request_id).state == EnrolmentState.CONFIRMED


def test_declining_needs_a_single_line_reason_which_the_requester_is_given(app, client):
    with app.app_context():
        team = _team()
        request_id = _request(team.member_ids[0])
    etag = client.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager)).headers["ETag"]
    for body in ({"decision": "decline"}, {"decision": "decline", "reason": "  "},
                 {"decision": "decline", "reason": "一行目\n二行目"}, {"decision": "decline", "reason": "長" * 301}):
        refused = _problem(_decide(client, team.manager, request_id, etag, **body), 422)
        assert [(e["field"], e["in"]) for e in refused["errors"]] == [("reason", "json")], body
    refused = _problem(_decide(client, team.manager, request_id, etag, decision="maybe"), 422)
    assert [e["field"] for e in refused["errors"]] == ["decision"]

    declined = _decide(client, team.manager, request_id, etag, decision="decline", reason="今期は業務繁忙のため")
    assert declined.status_code == 200, declined.get_data(as_text=True)
    assert (declined.get_json()["state"], declined.get_json()["approval_stage"]) == ("declined", "declined")
    mine = client.get(f"/api/v1/me/enrolments/{request_id}", headers=bearer(team.members[0])).get_json()
    assert mine["state"] == "declined"
    with app.app_context():
        assert db_session.get(Enrolment, request_id).end_reason == "今期は業務繁忙のため"
        audit = db_session.execute(select(AuditEvent.actor_id, AuditEvent.summary).where(
            AuditEvent.action == "enrollment.declined", AuditEvent.target_id == str(request_id))).one()
        assert tuple(audit) == (team.manager_id, "今期は業務繁忙のため")


def test_a_two_stage_request_goes_from_the_manager_to_hr(app, client):
    with app.app_context():
        team = _team()
        request_id = _request(team.member_ids[0], policy="manager_then_hr")
        hr = make_token(factories.employee(roles=(RoleName.HR,)), APPROVER_SCOPES)
    assert client.get("/api/v1/approvals", headers=bearer(hr)).get_json()["items"] == []  # the manager's first
    etag = client.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager)).headers["ETag"]
    forwarded = _decide(client, team.manager, request_id, etag, decision="approve")
    assert forwarded.status_code == 200
    assert (forwarded.get_json()["state"], forwarded.get_json()["approval_stage"],
            forwarded.get_json()["may_decide_now"]) == ("pending", "hr", False)
    # the manager still reads it (theirs was decided); deciding again is told it waits for HR
    assert client.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager)).status_code == 200
    _problem(_decide(client, team.manager, request_id, "*", decision="approve"), 409)
    [item] = client.get("/api/v1/approvals", headers=bearer(hr)).get_json()["items"]
    assert (item["id"], item["approval_stage"], item["may_decide_now"]) == (request_id, "hr", True)
    done = _decide(client, hr, request_id, forwarded.headers["ETag"], decision="approve")
    assert done.status_code == 200 and done.get_json()["state"] == "confirmed"


def test_a_request_one_may_not_decide_does_not_exist_here(app, client):
    with app.app_context():
        team, elsewhere = _team(), _team()
        theirs = _request(elsewhere.member_ids[0])
        member = db_session.get(Employee, team.member_ids[0])
        no_approval = factories.enrolment(member, factories.training_session(factories.course())).id  # confirmed
        own = _request(team.manager_id)  # the manager's own request goes to their head, never to themselves
    for enrolment_id in (theirs, no_approval, own, 999999):
        _problem(client.get(f"/api/v1/approvals/{enrolment_id}", headers=bearer(team.manager)), 404)
        _problem(_decide(client, team.manager, enrolment_id, "*", decision="approve"), 404)
        _problem(_decide(client, team.manager, enrolment_id, "*", decision="decline"), 404)  # before the body
    assert client.get("/api/v1/approvals", headers=bearer(team.manager)).get_json()["items"] == []
    with app.app_context():
        assert db_session.get(Enrolment, theirs).state == EnrolmentState.PENDING


def test_a_former_head_is_told_where_a_transferred_request_went(app, client):
    with app.app_context():
        team, west = _team(), _team(0)
        request_id = _request(team.member_ids[0])
        hr = factories.employee(roles=(RoleName.HR,))
        member, west_unit = db_session.get(Employee, team.member_ids[0]), db_session.get(Employee, west.manager_id).unit
        west_head_name = db_session.get(Employee, west.manager_id).name
    etag = client.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager)).headers["ETag"]
    with app.app_context():
        transfer_employee(hr, db_session.merge(member), db_session.merge(west_unit), as_of=today())
        db_session.commit()
    _problem(client.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager)), 404)  # no longer theirs
    told = _problem(_decide(client, team.manager, request_id, etag, decision="approve"), 409)
    assert west_head_name in told["detail"]
    [item] = client.get("/api/v1/approvals", headers=bearer(west.manager)).get_json()["items"]
    assert item["id"] == request_id and item["state"] == "pending"


def test_employees_tokens_without_the_scope_and_system_accounts_are_refused(app, client):
    with app.app_context():
        team = _team()
        request_id = _request(team.member_ids[0])
        manager = db_session.get(Employee, team.manager_id)
        read_only, approve_only = make_token(manager, ("read",)), make_token(manager, ("approve",))
        employee = make_token(db_session.get(Employee, team.member_ids[0]),
                              ("read", "enrol", "approve", "attend", "staff"))
        system_id, system_secret = make_client("hr", ("read", "staff"), name="人事システム")  # HR's permissions
    system = client_token(client, system_id, system_secret)
    etag = client.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager)).headers["ETag"]
    for secret in (employee, system):
        _problem(client.get("/api/v1/approvals", headers=bearer(secret)), 403)
        _problem(client.get(f"/api/v1/approvals/{request_id}", headers=bearer(secret)), 403)
        _problem(_decide(client, secret, request_id, etag, decision="approve"), 403)
    assert "approve" in _problem(_decide(client, read_only, request_id, etag, decision="approve"), 403)["detail"]
    _problem(client.get("/api/v1/approvals", headers=bearer(approve_only)), 403)
    assert _decide(client, approve_only, request_id, etag, decision="approve").status_code == 200


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    """Time stands still: one rate-limit minute, and every request made at the same instant (the
    cursor's tie-break on the id is exercised)."""
    with time_machine.travel(datetime.now(UTC), tick=False):
        yield


def test_the_queue_is_paged_in_a_fixed_number_of_statements(app, client, frozen):
    with app.app_context():
        team = _team(20)
        ids = [_request(team.member_ids[0])]
    client.get("/api/v1/approvals?limit=1", headers=bearer(team.manager))  # the minute's first request notes the use
    with count_statements(app) as one:
        assert len(client.get("/api/v1/approvals?limit=100", headers=bearer(team.manager)).get_json()["items"]) == 1
    with app.app_context():
        ids += [_request(member_id) for member_id in team.member_ids[1:]]
    with count_statements(app) as twenty:
        assert len(client.get("/api/v1/approvals?limit=100", headers=bearer(team.manager)).get_json()["items"]) == 20
    assert one.count == twenty.count, (one.count, twenty.count)

    seen: list[int] = []
    url: str | None = "/api/v1/approvals?limit=7"
    while url:
        page = client.get(url, headers=bearer(team.manager)).get_json()
        seen += [item["id"] for item in page["items"]]
        url = page["links"]["next"]
    assert seen == ids  # oldest first, each once


# --- two approvers at once, over real sockets (SQLite and PostgreSQL) --------------------------


@pytest.fixture(scope="module")
def race_site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with served_site(make_database_url, tmp_path_factory, "api-approvals-race") as site:
        yield site


def _post_json(port: int, path: str, body: dict[str, str],
               headers: dict[str, str]) -> Callable[[http.client.HTTPConnection], Response]:
    def send(connection: http.client.HTTPConnection) -> Response:
        try:
            connection.request("POST", path, body=json.dumps(body),
                               headers={"Content-Type": "application/json", **headers})
            raw = connection.getresponse()
            return Response(raw.status, raw.msg, raw.read().decode("utf-8", "replace"))
        finally:
            connection.close()

    return send


@pytest.mark.parametrize("second", ["hr", "the same manager"])
def test_two_approvers_deciding_at_once_record_one_decision(race_site, second):
    site = race_site
    with site.app.app_context():
        team = _team()
        request_id = _request(team.member_ids[0])
        other = (make_token(factories.employee(roles=(RoleName.HR,)), APPROVER_SCOPES) if second == "hr"
                 else make_token(db_session.get(Employee, team.manager_id), APPROVER_SCOPES))
    with site.app.test_client() as browser:
        etag = browser.get(f"/api/v1/approvals/{request_id}", headers=bearer(team.manager)).headers["ETag"]
    path = f"/api/v1/approvals/{request_id}/decision"
    jobs = [_post_json(site.port, path, {"decision": "approve"}, bearer(team.manager, **{"If-Match": etag})),
            _post_json(site.port, path, {"decision": "decline", "reason": "定員調整のため"},
                       bearer(other, **{"If-Match": etag}))]
    connections = [http.client.HTTPConnection("127.0.0.1", site.port, timeout=120) for _ in jobs]
    for connection in connections:
        connection.connect()
    results = release_together(jobs, connections)

    assert not site.errors, site.errors[:5]
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures
    answers = sorted(r.status for r in results if isinstance(r, Response))
    assert answers in ([200, 409], [200, 412]), [(r.status, r.text[:200]) for r in results]
    winner = next(r for r in results if isinstance(r, Response) and r.status == 200)
    loser = next(r for r in results if isinstance(r, Response) and r.status != 200)
    assert json.loads(loser.text)["detail"]
    with site.app.app_context():
        enrolment = db_session.get(Enrolment, request_id)
        assert enrolment.state.value == json.loads(winner.text)["state"]
        decisions = db_session.scalar(select(func.count()).select_from(EnrolmentEvent).where(
            EnrolmentEvent.enrolment_id == request_id, EnrolmentEvent.from_state == "pending",
            EnrolmentEvent.to_state != "pending"))
        audited = db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.target_type == "enrolment", AuditEvent.target_id == str(request_id),
            AuditEvent.action.in_(("enrollment.approved", "enrollment.declined"))))
        assert (decisions, audited) == (1, 1)
