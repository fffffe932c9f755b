"""What a program using the API notices: scopes, problem details naming the field, cursor paging,
idempotent enrolment, If-Match on cancellation, the rate limit, and a fixed number of statements
per list whatever its length."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.api.models import ApiRateWindow
from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from tests import factories
from tests.api.conftest import bearer, make_token
from tests.querycount import count_statements


@pytest.fixture
def person(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee()


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    """Time stands still: every request of the test falls in one rate-limit minute."""
    with time_machine.travel(datetime.now(UTC), tick=False):
        yield


def _problem(response, status):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].endswith(f"#problem-{status}")
    return body


def test_a_read_token_cannot_enrol(app, client, person):
    with app.app_context():
        session_id = factories.training_session(factories.course()).id
        secret = make_token(person, ("read",))
    body = _problem(client.post(f"/api/v1/sessions/{session_id}/enrolments", headers=bearer(secret)), 403)
    assert "enrol" in body["detail"]
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Enrolment)
                                 .where(Enrolment.employee_id == person.id)) == 0


def test_an_enrol_only_token_cannot_read(app, client, person):
    with app.app_context():
        secret = make_token(person, ("enrol",))
    _problem(client.get("/api/v1/courses", headers=bearer(secret)), 403)


@pytest.mark.parametrize("limit", ["0", "101", "abc", "2.5", ""])
def test_a_bad_limit_is_a_problem_naming_the_field(app, client, person, limit):
    with app.app_context():
        secret = make_token(person)
    body = _problem(client.get(f"/api/v1/courses?limit={limit}", headers=bearer(secret)), 422)
    assert [(e["field"], e["in"]) for e in body["errors"]] == [("limit", "query")]


@pytest.mark.parametrize("cursor", ["nonsense", "eyJjb2RlIjoxfQ", "e30"])
def test_a_cursor_the_api_did_not_give_is_a_problem(app, client, person, cursor):
    with app.app_context():
        secret = make_token(person)
    body = _problem(client.get(f"/api/v1/courses?cursor={cursor}", headers=bearer(secret)), 422)
    assert body["errors"][0]["field"] == "cursor"


def test_unknown_paths_and_methods_are_problems_but_pages_stay_html(app, client, person):
    with app.app_context():
        secret = make_token(person)
    _problem(client.get("/api/v1/no-such-thing", headers=bearer(secret)), 404)
    not_allowed = client.put("/api/v1/courses", headers=bearer(secret))
    _problem(not_allowed, 405)
    assert "GET" in not_allowed.headers["Allow"]
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.content_type.startswith("text/html")


def test_courses_are_paged_by_cursor_in_a_fixed_number_of_statements(app, client, person, frozen):
    with app.app_context():
        codes = sorted(factories.course(f"API-{n}").code for n in range(5))
        factories.course("API-DRAFT", status="draft")
        secret = make_token(person)
    seen: list[str] = []
    url: str | None = "/api/v1/courses?limit=2"
    counts = []
    client.get("/api/v1/courses?limit=1", headers=bearer(secret))  # the minute's first request notes the use
    while url:
        with count_statements(app) as counted:
            page = client.get(url, headers=bearer(secret))
        assert page.status_code == 200
        counts.append(counted.count)
        seen += [c["code"] for c in page.get_json()["items"]]
        url = page.get_json()["links"]["next"]
    assert [c for c in seen if c.startswith("API-")] == codes  # every published course once, drafts never
    # the token with its owner, the owner's roles, the rate window, the courses, their grades
    assert set(counts) == {5}, counts


def test_sessions_show_seats_left_and_the_waitlist_in_a_fixed_number_of_statements(app, client, person, frozen):
    with app.app_context():
        course = factories.course()
        full = factories.training_session(course, capacity=1)
        factories.training_session(course, capacity=5, starts_in=timedelta(days=20))
        for _ in range(3):
            factories.enrolment(factories.employee(), full)
        secret = make_token(person)
        code = course.code
    client.get("/api/v1/courses?limit=1", headers=bearer(secret))  # the minute's first request notes the use
    with count_statements(app) as counted:
        page = client.get(f"/api/v1/sessions?course={code}", headers=bearer(secret))
    items = page.get_json()["items"]
    assert [(s["capacity"], s["seats_left"], s["waitlist_length"]) for s in items] == [(1, 0, 2), (5, 5, 0)]
    assert counted.count == 6  # token with owner, roles, rate window, the course, the sessions, the waitlists
    _problem(client.get("/api/v1/sessions?course=NO-SUCH", headers=bearer(secret)), 404)


def test_my_enrolments_show_the_waitlist_position_in_a_fixed_number_of_statements(app, client, person, frozen):
    with app.app_context():
        course = factories.course()
        full = factories.training_session(course, capacity=1)
        factories.enrolment(factories.employee(), full)
        factories.enrolment(factories.employee(), full)
        factories.enrolment(person, full)
        for _ in range(3):
            factories.enrolment(person, factories.training_session(factories.course()))
        secret = make_token(person)
    client.get("/api/v1/courses?limit=1", headers=bearer(secret))  # the minute's first request notes the use
    with count_statements(app) as counted:
        page = client.get("/api/v1/me/enrolments", headers=bearer(secret))
    items = page.get_json()["items"]
    assert len(items) == 4
    assert [(e["state"], e["waitlist_position"]) for e in items][-1] == ("waitlisted", 2)
    assert counted.count == 5  # token with owner, roles, rate window, enrolments with sessions and courses, places


def test_enrol_with_an_idempotency_key_replays_and_refuses_another_request(app, client, person):
    with app.app_context():
        first, second = (factories.training_session(factories.course()).id for _ in range(2))
        secret = make_token(person)
    headers = bearer(secret, **{"Idempotency-Key": "order-2026-001"})
    made = client.post(f"/api/v1/sessions/{first}/enrolments", headers=headers)
    assert made.status_code == 201 and made.get_json()["state"] == "confirmed"
    again = client.post(f"/api/v1/sessions/{first}/enrolments", headers=headers)
    assert again.status_code == 201 and again.get_json() == made.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and again.headers["Location"] == made.headers["Location"]
    other_session = _problem(client.post(f"/api/v1/sessions/{second}/enrolments", headers=headers), 422)
    assert other_session["errors"][0]["field"] == "Idempotency-Key"
    other_body = client.post(f"/api/v1/sessions/{first}/enrolments", headers=headers, json={"note": "x"})
    assert _problem(other_body, 422)["errors"][0]["in"] == "headers"
    # without a key, a second enrolment in the same course is refused by the same rule as the web's
    conflict = _problem(client.post(f"/api/v1/sessions/{first}/enrolments", headers=bearer(secret)), 409)
    assert conflict["detail"]
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Enrolment)
                                 .where(Enrolment.employee_id == person.id)) == 1


def test_a_key_is_kept_for_a_day(app, client, person):
    with app.app_context():
        course = factories.course()
        session_id = factories.training_session(course, starts_in=timedelta(days=30)).id
        secret = make_token(person)
    headers = bearer(secret, **{"Idempotency-Key": "k"})
    first = client.post(f"/api/v1/sessions/{session_id}/enrolments", headers=headers)
    assert first.status_code == 201
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=25), tick=False):
        later = client.post(f"/api/v1/sessions/{session_id}/enrolments", headers=headers)
    _problem(later, 409)  # run again (the person is enrolled already), not replayed
    assert "Idempotent-Replayed" not in later.headers


def test_cancel_needs_the_current_etag(app, client, person):
    with app.app_context():
        one_seat = factories.training_session(factories.course(), capacity=1)
        ahead = factories.employee()
        seated = factories.enrolment(ahead, one_seat)
        mine = factories.enrolment(person, one_seat)
        assert mine.state == EnrolmentState.WAITLISTED
        secret, ahead_secret = make_token(person), make_token(ahead)
        mine_id, seated_id = mine.id, seated.id
    url = f"/api/v1/me/enrolments/{mine_id}"
    read = client.get(url, headers=bearer(secret))
    assert read.get_json()["waitlist_position"] == 1
    stale = read.headers["ETag"]
    _problem(client.delete(url, headers=bearer(secret)), 428)
    # the person ahead cancels (with their current ETag): the seat comes to us, our copy is stale
    theirs = client.get(f"/api/v1/me/enrolments/{seated_id}", headers=bearer(ahead_secret)).headers["ETag"]
    cancelled = client.delete(f"/api/v1/me/enrolments/{seated_id}",
                              headers=bearer(ahead_secret, **{"If-Match": theirs}))
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    _problem(client.delete(url, headers=bearer(secret, **{"If-Match": stale})), 412)
    with app.app_context():
        assert db_session.get(Enrolment, mine_id).state == EnrolmentState.CONFIRMED
    fresh = client.get(url, headers=bearer(secret))
    assert fresh.get_json()["state"] == "confirmed" and fresh.headers["ETag"] != stale
    done = client.delete(url, headers=bearer(secret, **{"If-Match": fresh.headers["ETag"]}))
    assert done.status_code == 200 and done.get_json()["state"] == "cancelled"
    _problem(client.delete(url, headers=bearer(secret, **{"If-Match": "*"})), 409)  # already cancelled
    # someone else's enrolment does not exist here
    _problem(client.delete(f"/api/v1/me/enrolments/{seated_id}", headers=bearer(secret, **{"If-Match": "*"})), 404)


def test_the_rate_limit_answers_429_with_retry_after_and_counts_in_the_database(app, client, person, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 3)
    with app.app_context():
        secret = make_token(person)
        assert db_session.scalar(select(ApiRateWindow.holder).limit(1)) is None  # none yet
    with time_machine.travel(datetime(2026, 12, 1, 1, 0, 45, tzinfo=UTC), tick=False):
        statuses = [client.get("/api/v1/courses", headers=bearer(secret)).status_code for _ in range(3)]
        refused = client.get("/api/v1/courses", headers=bearer(secret))
    assert statuses == [200, 200, 200]
    _problem(refused, 429)
    assert refused.headers["Retry-After"] == "15"
    with time_machine.travel(datetime(2026, 12, 1, 1, 1, 5, tzinfo=UTC), tick=False):
        assert client.get("/api/v1/courses", headers=bearer(secret)).status_code == 200
    with app.app_context():
        windows = db_session.execute(select(ApiRateWindow.window_started_at, ApiRateWindow.requests)).all()
        assert [(w.minute, n) for w, n in windows] == [(1, 1)]  # the new minute only: the old one dropped


def test_refused_writes_use_up_the_budget_too(app, client, person, monkeypatch, frozen):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 3)
    with app.app_context():
        secret = make_token(person)
    refusals = [client.post("/api/v1/sessions/999999/enrolments", headers=bearer(secret)).status_code,
                client.delete("/api/v1/me/enrolments/999999", headers=bearer(secret, **{"If-Match": "*"})).status_code,
                client.delete("/api/v1/me/enrolments/999999", headers=bearer(secret)).status_code]
    assert refusals == [404, 404, 428]
    _problem(client.get("/api/v1/courses", headers=bearer(secret)), 429)
