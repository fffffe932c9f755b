"""What an integrator checks first: whom the token acts for (GET /api/v1/me), and how much of the
minute's budget is left on every answer (RateLimit-* headers)."""
from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from app.org.models import RoleName
from tests import factories
from tests.api.conftest import bearer, client_token, make_client, make_token


def test_a_personal_token_names_its_person_roles_scopes_and_expiry(app, client):
    with app.app_context():
        unit = factories.unit("デジタル推進課")
        head = factories.employee(unit, "KACHO", heads=unit, roles=(RoleName.INSTRUCTOR,))
        secret = make_token(head, ("read", "approve"), days=10)
        number, name = head.employee_number, head.name
    body = client.get("/api/v1/me", headers=bearer(secret)).get_json()
    assert body["kind"] == "person" and body["employee_number"] == number and body["name"] == name
    assert body["roles"] == ["employee", "instructor", "manager"]
    assert body["scopes"] == ["approve", "read"] and body["token_expires_at"].endswith("+00:00")


def test_a_system_accounts_token_names_the_account_and_its_role(app, client):
    with app.app_context():
        token = client_token(client, *make_client(name="人事給与システム"))
    body = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert body == {**body, "kind": "system", "employee_number": None, "name": "人事給与システム",
                    "roles": ["personnel_system"], "scopes": ["read", "staff"]}


def test_every_answer_says_how_much_of_the_minute_is_left(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 3)
    with app.app_context():
        secret = make_token(factories.employee())
    with time_machine.travel(datetime(2026, 12, 1, 1, 0, 45, tzinfo=UTC), tick=False):
        answers = [client.get("/api/v1/me", headers=bearer(secret)) for _ in range(4)]
        refused_write = client.post("/api/v1/sessions/999999/enrolments", headers=bearer(secret))
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
    assert {a.headers["RateLimit-Reset"] for a in answers} == {"15"}
    assert refused_write.status_code == 429 and refused_write.headers["RateLimit-Remaining"] == "0"
    assert "RateLimit-Limit" not in client.get("/api/v1/me").headers  # no token: no budget to tell
