"""The races reported in issue 13, each through the real web stack on SQLite and PostgreSQL:
a triple click on Cancel, people cancelling at once, managers approving or declining while their
staff cancel, and the waitlist number each person is told. Every request is released at the same
moment (tests/http_client.py); each loser must get a redirect with a clear message, never a 5xx,
a 403 or a second effect, and the seat counter must equal the enrolments holding a seat."""
from __future__ import annotations

import http.client
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.core.db import db_session
from app.enrollment import queries
from app.enrollment.models import ACTIVE_STATES, Enrolment, EnrolmentEvent, EnrolmentState
from app.org.models import Employee
from app.scheduling.models import TrainingSession
from tests import factories
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, Response, release_together, serve_in_thread

REDIRECTS = (302, 303)
TEAMS = 4
STAFF_PER_TEAM = 4


@dataclass
class Site:
    app: Flask
    port: int
    heads: list[str]  # one head per division
    staff: list[list[str]]  # the staff of each division, by division
    errors: list[BaseException] = field(default_factory=list)

    def client(self, login: str) -> HttpClient:
        return HttpClient("127.0.0.1", self.port).sign_in(login)

    def new_session(self, title: str, *, capacity: int, policy: str = "none") -> int:
        with self.app.app_context():
            session = factories.training_session(factories.course(title_ja=title), capacity=capacity, policy=policy)
            db_session.commit()
            return session.id

    def enrol(self, client: HttpClient, session_id: int) -> Response:
        response = client.post(f"/sessions/{session_id}/enrol", {"csrf_token": client.csrf_token("/my-learning")})
        assert response.status in REDIRECTS, response.text[:300]
        return response


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("transition-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        department = factories.unit("遷移検証部")
        heads, staff = [], []
        for n in range(TEAMS):
            division = factories.unit(f"遷移検証{n}課", parent=department)
            heads.append(factories.employee(division, "KACHO", heads=division).employee_number)
            staff.append([factories.employee(division).employee_number for _ in range(STAFF_PER_TEAM)])
        db_session.commit()
    with serve_in_thread(application, "transition-race-server") as (port, errors):
        yield Site(application, port, heads, staff, errors)


def _no_server_errors(site: Site, results: list[Response | BaseException]) -> list[Response]:
    failures = [r if isinstance(r, BaseException) else (r.status, r.text[:300])
                for r in results if isinstance(r, BaseException) or r.status not in REDIRECTS]
    assert not failures, failures[:5]
    assert not site.errors, site.errors[:5]
    return [r for r in results if isinstance(r, Response)]


def _flashes(client: HttpClient) -> str:
    return client.get("/my-learning").text


def _seats(session_id: int) -> tuple[int, int, int]:
    """(counter, holders, capacity) of a session."""
    session = db_session.get(TrainingSession, session_id, populate_existing=True)
    holders = db_session.scalar(select(func.count()).select_from(Enrolment).where(
        Enrolment.session_id == session_id, Enrolment.holds_seat.is_(True)))
    return session.seats_taken, holders, session.capacity


def _events(enrolment_id: int, to_state: str) -> int:
    return db_session.scalar(select(func.count()).select_from(EnrolmentEvent).where(
        EnrolmentEvent.enrolment_id == enrolment_id, EnrolmentEvent.to_state == to_state))


def _place_of(login: str, session_id: int) -> Enrolment:
    return db_session.scalar(select(Enrolment).join(Employee, Enrolment.employee_id == Employee.id).where(
        Employee.employee_number == login, Enrolment.session_id == session_id).order_by(Enrolment.id.desc()))


def test_three_clicks_on_cancel_free_one_seat_and_promote_one_person(site: Site) -> None:
    session_id = site.new_session("三度押し取消の研修", capacity=2)
    people = site.staff[0]
    clients = [site.client(login) for login in people]
    for client in clients:  # two seated, two waiting
        site.enrol(client, session_id)
    with site.app.app_context():
        place = _place_of(people[0], session_id)
    canceller = clients[0]
    token = canceller.csrf_token(f"/enrolments/{place.id}")
    connections = [canceller.connect() for _ in range(3)]

    def click(connection: http.client.HTTPConnection) -> Response:
        return canceller.post(f"/enrolments/{place.id}/cancel", {"csrf_token": token, "reason": ""}, connection)

    _no_server_errors(site, release_together([click] * 3, connections))

    with site.app.app_context():
        counter, holders, capacity = _seats(session_id)
        assert counter == holders == capacity == 2  # not 3 or 4: the seat was freed once
        assert _events(place.id, "cancelled") == 1
        states = [_place_of(login, session_id).state for login in people]
        assert states == [EnrolmentState.CANCELLED, EnrolmentState.CONFIRMED, EnrolmentState.CONFIRMED,
                          EnrolmentState.WAITLISTED]
    page = canceller.get(f"/enrolments/{place.id}").text
    assert "すでにキャンセルされています" in page or "キャンセルしました" in page


def test_people_cancelling_at_once_all_succeed(site: Site) -> None:
    session_id = site.new_session("一斉取消の研修", capacity=5)
    people = site.staff[1]
    clients = [site.client(login) for login in people]
    for client in clients:
        site.enrol(client, session_id)
    with site.app.app_context():
        places = [_place_of(login, session_id).id for login in people]
    prepared = [(client, place, client.csrf_token(f"/enrolments/{place}"))
                for client, place in zip(clients, places, strict=True)]
    connections = [client.connect() for client in clients]
    jobs = [lambda connection, c=c, p=p, t=t: c.post(f"/enrolments/{p}/cancel", {"csrf_token": t}, connection)
            for c, p, t in prepared]

    _no_server_errors(site, release_together(jobs, connections))

    with site.app.app_context():
        assert [_place_of(login, session_id).state for login in people] == [EnrolmentState.CANCELLED] * len(people)
        assert _seats(session_id)[:2] == (0, 0)


@pytest.mark.parametrize("decision", ["approve", "decline"])
def test_managers_deciding_while_their_staff_cancel(site: Site, decision: str) -> None:
    """Each head decides all of the team's requests in one go while each employee clicks Cancel.
    Whoever comes second is told what happened; nobody gets a 500 or a 403; a cancelled request
    never ends confirmed; seats stay counted."""
    session_id = site.new_session(f"承認と取消の競合（{decision}）", capacity=TEAMS * STAFF_PER_TEAM // 2,
                                  policy="manager")
    staff_clients = {login: site.client(login) for team in site.staff for login in team}
    for client in staff_clients.values():
        site.enrol(client, session_id)
    with site.app.app_context():
        places = {login: _place_of(login, session_id).id for login in staff_clients}
        assert all(_place_of(login, session_id).state == EnrolmentState.PENDING for login in staff_clients)
    head_clients = [site.client(login) for login in site.heads]
    jobs: list[Callable[[http.client.HTTPConnection], Response]] = []
    connections = []
    for head, team in zip(head_clients, site.staff, strict=False):
        token = head.csrf_token("/approvals")
        form = [("csrf_token", token), ("action", decision), ("reason", "定員調整")]
        form += [("enrolment_id", str(places[login])) for login in team]
        jobs.append(lambda connection, h=head, f=form: _post_pairs(h, "/approvals", f, connection))
        connections.append(head.connect())
    for login, client in staff_clients.items():
        token = client.csrf_token(f"/enrolments/{places[login]}")
        jobs.append(lambda connection, c=client, p=places[login], t=token: c.post(
            f"/enrolments/{p}/cancel", {"csrf_token": t}, connection))
        connections.append(client.connect())

    _no_server_errors(site, release_together(jobs, connections))

    with site.app.app_context():
        counter, holders, capacity = _seats(session_id)
        assert counter == holders <= capacity
        for place_id in places.values():
            place = db_session.get(Enrolment, place_id, populate_existing=True)
            cancelled = _events(place_id, "cancelled")
            if place.state == EnrolmentState.CANCELLED:  # the employee came first (or after an approval)
                assert cancelled == 1 and not place.holds_seat
            else:  # the manager came first; the employee's cancel then found it decided (or declined)
                assert place.state in (EnrolmentState.CONFIRMED, EnrolmentState.WAITLISTED, EnrolmentState.DECLINED)
                assert place.state != EnrolmentState.DECLINED or decision == "decline"
                assert cancelled == 0
            decided = db_session.scalar(select(func.count()).select_from(EnrolmentEvent).where(
                EnrolmentEvent.enrolment_id == place_id,
                EnrolmentEvent.note.startswith("approved") | EnrolmentEvent.note.startswith("declined")))
            assert decided <= 1  # decided at most once
        live = db_session.scalar(select(func.count()).select_from(Enrolment).where(
            Enrolment.session_id == session_id, Enrolment.state.in_(ACTIVE_STATES)))
        assert live == len(queries.positions(session_id)) + holders


def _post_pairs(client: HttpClient, path: str, pairs: list[tuple[str, str]],
                connection: http.client.HTTPConnection) -> Response:
    """A form with repeated fields (several ticked requests)."""
    from urllib.parse import urlencode

    headers = {"Accept-Language": client.accept_language, "Content-Type": "application/x-www-form-urlencoded",
               "Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}
    try:
        connection.request("POST", path, body=urlencode(pairs), headers=headers)
        raw = connection.getresponse()
        text = raw.read().decode("utf-8", "replace")
        client._keep_cookies(raw.msg.get_all("Set-Cookie") or [])
        return Response(raw.status, raw.msg, text)
    finally:
        connection.close()


def test_everyone_joining_a_full_session_at_once_is_told_a_distinct_true_place(site: Site) -> None:
    session_id = site.new_session("キャンセル待ち番号の研修", capacity=1)
    logins = [login for team in site.staff for login in team]
    clients = [site.client(login) for login in logins]
    tokens = [client.csrf_token("/my-learning") for client in clients]
    connections = [client.connect() for client in clients]
    jobs = [lambda connection, c=c, t=t: c.post(f"/sessions/{session_id}/enrol", {"csrf_token": t}, connection)
            for c, t in zip(clients, tokens, strict=False)]

    _no_server_errors(site, release_together(jobs, connections))

    told: dict[str, int] = {}
    for login, client in zip(logins, clients, strict=False):
        match = re.search(r"キャンセル待ち（(\d+)番目）", _flashes(client))
        if match:
            told[login] = int(match.group(1))
    assert len(told) == len(logins) - 1  # everyone but the one who got the seat
    assert sorted(told.values()) == list(range(1, len(logins)))
    with site.app.app_context():
        positions = queries.positions(session_id)
        assert {login: positions[_place_of(login, session_id).id] for login in told} == told
