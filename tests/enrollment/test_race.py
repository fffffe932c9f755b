"""Races through the real web stack (ARCHITECTURE.md rules 3 and 4), on SQLite and PostgreSQL.

Every request goes over a socket to the threaded live server (tests/enrollment/conftest.py).
The connections of the racing requests are opened beforehand and the requests are released
together by a barrier, so they really arrive at the same moment.
"""
from __future__ import annotations

import http.client
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from app.core.db import db_session
from app.enrollment import queries
from app.enrollment.models import ACTIVE_STATES, Enrolment, EnrolmentEvent, EnrolmentState
from app.org.models import Employee
from app.scheduling.models import TrainingSession
from tests.enrollment.conftest import RACE_CAPACITY, RACERS, HttpClient, RaceSite, Response
from tests.http_client import release_together

REDIRECTS = (302, 303)


def _assert_all_redirected(site: RaceSite, results: list[Response | BaseException]) -> None:
    failures = [r if isinstance(r, BaseException) else (r.status, r.text[:300])
                for r in results if isinstance(r, BaseException) or r.status not in REDIRECTS]
    assert not failures, failures[:5]
    assert not site.errors, site.errors[:5]


def _enrolments_of(session_id: int) -> list[Enrolment]:
    return list(db_session.scalars(select(Enrolment).where(Enrolment.session_id == session_id)
                                   .order_by(Enrolment.id)))


def _seats_taken(session_id: int) -> int:
    return db_session.scalar(select(TrainingSession.seats_taken).where(TrainingSession.id == session_id))


def test_200_employees_race_for_30_seats(race_site: RaceSite) -> None:
    session_id = race_site.race_session_id

    def prepare(login: str) -> tuple[HttpClient, str]:
        client = race_site.signed_in_client(login)
        return client, client.csrf_token("/my-learning")

    with ThreadPoolExecutor(max_workers=8) as pool:
        prepared = list(pool.map(prepare, race_site.logins))
    connections = []
    try:
        for client, _token in prepared:
            connections.append(client.connect())
    except BaseException:
        for connection in connections:
            connection.close()
        raise

    def job(client: HttpClient, token: str) -> Callable[[http.client.HTTPConnection], Response]:
        return lambda connection: client.post(f"/sessions/{session_id}/enrol", {"csrf_token": token}, connection)

    results = release_together([job(client, token) for client, token in prepared], connections)

    _assert_all_redirected(race_site, results)
    with race_site.app.app_context():
        enrolments = _enrolments_of(session_id)
        racer_ids = set(db_session.scalars(select(Employee.id).where(Employee.employee_number.in_(race_site.logins))))
        assert len(enrolments) == RACERS
        assert {e.employee_id for e in enrolments} == racer_ids  # one each, nobody missing
        confirmed = [e for e in enrolments if e.state == EnrolmentState.CONFIRMED and e.holds_seat]
        waitlisted = [e for e in enrolments if e.state == EnrolmentState.WAITLISTED and not e.holds_seat]
        assert len(confirmed) == RACE_CAPACITY
        assert len(waitlisted) == RACERS - RACE_CAPACITY
        assert _seats_taken(session_id) == RACE_CAPACITY
        positions = queries.positions(session_id)
        assert set(positions) == {e.id for e in waitlisted}
        assert sorted(positions.values()) == list(range(1, RACERS - RACE_CAPACITY + 1))
        # first come, first served: every seat went to a request that arrived before every waiting one
        assert max(e.id for e in confirmed) < min(e.id for e in waitlisted)
        events = db_session.scalar(select(func.count()).select_from(EnrolmentEvent).join(Enrolment)
                                   .where(Enrolment.session_id == session_id))
        assert events == RACERS  # one "confirmed" or "waitlisted" event each, none doubled


def test_double_click_enrols_once(race_site: RaceSite) -> None:
    session_id = race_site.double_click_session_id
    login = race_site.logins[0]
    clicks = 5
    client = race_site.signed_in_client(login)
    token = client.csrf_token("/my-learning")
    with race_site.app.app_context():
        seats_before = _seats_taken(session_id)
    connections = [client.connect() for _ in range(clicks)]

    def job(connection: http.client.HTTPConnection) -> Response:
        return client.post(f"/sessions/{session_id}/enrol", {"csrf_token": token}, connection)

    results = release_together([job] * clicks, connections)

    _assert_all_redirected(race_site, results)
    with race_site.app.app_context():
        person = db_session.scalar(select(Employee).where(Employee.employee_number == login))
        enrolments = [e for e in _enrolments_of(session_id) if e.employee_id == person.id]
        assert len(enrolments) == 1
        assert enrolments[0].state == EnrolmentState.CONFIRMED and enrolments[0].holds_seat
        assert _seats_taken(session_id) == seats_before + 1
    page = client.get("/my-learning")
    assert page.status == 200 and "二度押しの研修" in page.text


def test_cancellation_promotes_the_first_waiting_person(race_site: RaceSite) -> None:
    session_id = race_site.cancel_session_id  # one seat
    first, second = (race_site.signed_in_client(login) for login in race_site.logins[1:3])
    for client in (first, second):
        response = client.post(f"/sessions/{session_id}/enrol", {"csrf_token": client.csrf_token("/my-learning")})
        assert response.status in REDIRECTS
    with race_site.app.app_context():
        seated, waiting = _enrolments_of(session_id)
        assert seated.state == EnrolmentState.CONFIRMED and waiting.state == EnrolmentState.WAITLISTED
        assert queries.positions(session_id) == {waiting.id: 1}

    token = first.csrf_token(f"/enrolments/{seated.id}")
    response = first.post(f"/enrolments/{seated.id}/cancel", {"csrf_token": token, "reason": "業務都合"})
    assert response.status in REDIRECTS and response.headers["Location"].endswith(f"/enrolments/{seated.id}")
    assert not race_site.errors

    with race_site.app.app_context():
        cancelled, promoted = _enrolments_of(session_id)
        assert cancelled.state == EnrolmentState.CANCELLED and not cancelled.holds_seat
        assert promoted.state == EnrolmentState.CONFIRMED and promoted.holds_seat
        assert _seats_taken(session_id) == 1
        assert queries.positions(session_id) == {}
        active = db_session.scalar(select(func.count()).select_from(Enrolment).where(
            Enrolment.session_id == session_id, Enrolment.state.in_(ACTIVE_STATES)))
        assert active == 1
