"""Personal access tokens, as a person makes and revokes them on the account page, and what the
API then says to them: shown once, stored hashed, listed, revoked or expired -> 401."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from app.api.models import ApiToken
from app.audit.models import AuditEvent
from app.core.clock import now, today
from app.core.db import db_session
from tests import factories
from tests.api.conftest import bearer, make_token

_SECRET = re.compile(r'id="new-token"[^>]*value="(mnb_[A-Za-z0-9_-]+)"')


def _make_on_page(client, name="集計スクリプト", scopes=("read",), days=30):  # type: ignore[no-untyped-def]
    data = {"name": name, "scopes": list(scopes), "expires_on": (today() + timedelta(days=days)).isoformat()}
    return factories.post(client, "/account/tokens", data, form_page="/account/tokens")


def test_a_token_is_shown_once_stored_hashed_listed_and_revoked(app, client):
    with app.app_context():
        person = factories.employee()
    factories.login_as(client, person)

    made = _make_on_page(client)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    secret = _SECRET.search(made.get_data(as_text=True)).group(1)
    assert len(secret) >= 4 + 43  # "mnb_" and 32 random bytes

    with app.app_context():
        row = db_session.scalars(select(ApiToken).where(ApiToken.employee_id == person.id)).one()
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (row.name, row.scopes, row.hint, row.token_hash)
        assert row.scopes == "read" and row.revoked_at is None
        assert db_session.scalar(select(AuditEvent.action).where(AuditEvent.target_type == "api_token",
                                                                 AuditEvent.target_id == str(row.id))) \
            == "api.token_created"
        token_id = row.id

    listed = client.get("/account/tokens").get_data(as_text=True)
    assert "集計スクリプト" in listed and secret[:8] in listed
    assert secret not in listed  # never again

    assert app.test_client().get("/api/v1/courses", headers=bearer(secret)).status_code == 200

    revoked = factories.post(client, f"/account/tokens/{token_id}/revoke", form_page="/account/tokens")
    assert revoked.status_code == 302
    answer = app.test_client().get("/api/v1/courses", headers=bearer(secret))
    assert answer.status_code == 401 and answer.content_type == "application/problem+json"
    assert answer.get_json()["status"] == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    with app.app_context():
        actions = db_session.scalars(select(AuditEvent.action).where(
            AuditEvent.target_type == "api_token", AuditEvent.target_id == str(token_id))).all()
        assert sorted(actions) == ["api.token_created", "api.token_revoked"]


def test_the_form_refuses_no_scope_and_an_expiry_beyond_a_year(app, client):
    with app.app_context():
        person = factories.employee()
    factories.login_as(client, person)
    no_scope = _make_on_page(client, scopes=())
    assert no_scope.status_code == 400 and 'id="new-token"' not in no_scope.get_data(as_text=True)
    too_long = _make_on_page(client, days=400)
    assert too_long.status_code == 400 and 'id="new-token"' not in too_long.get_data(as_text=True)
    with app.app_context():
        assert db_session.scalars(select(ApiToken).where(ApiToken.employee_id == person.id)).all() == []


def test_nobody_revokes_someone_elses_token(app, client):
    with app.app_context():
        owner, other = factories.employee(), factories.employee()
        secret = make_token(owner)
        token_id = db_session.scalar(select(ApiToken.id).where(ApiToken.employee_id == owner.id))
    factories.login_as(client, other)
    assert factories.post(client, f"/account/tokens/{token_id}/revoke", form_page="/account/tokens").status_code == 404
    assert client.get("/account/tokens").get_data(as_text=True).count('id="token-') == 0
    assert app.test_client().get("/api/v1/courses", headers=bearer(secret)).status_code == 200


def test_an_expired_token_is_refused(app, client):
    with app.app_context():
        secret = make_token(factories.employee(), days=1)
    assert client.get("/api/v1/courses", headers=bearer(secret)).status_code == 200
    with time_machine.travel(now() + timedelta(days=3), tick=False):
        answer = client.get("/api/v1/courses", headers=bearer(secret))
    assert answer.status_code == 401 and answer.get_json()["title"] == "Unauthorized"


def test_a_deactivated_owner_s_token_is_refused(app, client):
    with app.app_context():
        person = factories.employee()
        secret = make_token(person)
        person.is_active = False
        db_session.commit()
    assert client.get("/api/v1/me/enrolments", headers=bearer(secret)).status_code == 401


def test_unknown_and_malformed_credentials_are_401(app, client):
    for header in ("Bearer mnb_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "mnb_abc"):
        answer = client.get("/api/v1/courses", headers={"Authorization": header})
        assert answer.status_code == 401 and answer.content_type == "application/problem+json", header


def test_last_use_is_noted(app, client):
    with app.app_context():
        person = factories.employee()
        secret = make_token(person)
    client.get("/api/v1/courses", headers=bearer(secret))
    with app.app_context():
        assert db_session.scalars(select(ApiToken.last_used_at).where(ApiToken.employee_id == person.id)).one()


def test_the_token_list_costs_the_same_for_one_token_or_many(app, client):
    from tests.querycount import count_statements

    with app.app_context():
        person = factories.employee()
        make_token(person)
    factories.login_as(client, person)
    with count_statements(app) as one:
        assert client.get("/account/tokens").status_code == 200
    with app.app_context():
        for _ in range(4):
            make_token(person)
    with count_statements(app) as five:
        page = client.get("/account/tokens").get_data(as_text=True)
    assert page.count('id="token-') == 5
    assert five.count == one.count


def test_the_token_form_still_needs_its_csrf_token(app, client):
    with app.app_context():
        person = factories.employee()
    factories.login_as(client, person)
    data = {"name": "x", "scopes": ["read"], "expires_on": (today() + timedelta(days=3)).isoformat()}
    refused = client.post("/account/tokens", data=data)
    assert refused.status_code == 400 and refused.content_type.startswith("text/html")
    with app.app_context():
        assert db_session.scalars(select(ApiToken).where(ApiToken.employee_id == person.id)).all() == []
