"""System accounts (OAuth 2 client credentials): registered by the operator, an hour-long token
from the token endpoint, acting with the account's role and never as a person; revoked at once."""
from __future__ import annotations

import base64
import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from app.api.models import ApiClient, ApiToken
from app.audit.models import AuditEvent
from app.core.clock import now, today
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.api.conftest import bearer, client_token, make_client

TOKEN = "/api/v1/oauth/token"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_the_operator_registers_a_system_account_and_it_gets_a_token(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api", "create-client", "人事給与システム", "--role", "personnel_system",
                                 "--scopes", "read,staff"])
    assert result.exit_code == 0, result.output
    client_id = result.output.split("client_id:")[1].split()[0]
    secret = result.output.split("client_secret:")[1].split()[0]
    with app.app_context():
        row = db_session.scalars(select(ApiClient)).one()
        assert row.client_id == client_id and secret not in (row.secret_hash, row.name)
        assert db_session.scalar(select(AuditEvent.action).where(AuditEvent.target_type == "api_client")) \
            == "api.client_created"

    answer = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=_basic(client_id, secret))
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"read", "staff"} and body["access_token"].startswith("mnb_")

    courses = client.get("/api/v1/courses", headers=bearer(body["access_token"]))
    assert courses.status_code == 200

    listed = runner.invoke(args=["api", "clients"])
    assert client_id in listed.output and "personnel_system" in listed.output


def test_the_secret_in_the_form_works_too_and_a_narrower_scope_is_kept(app, client):
    with app.app_context():
        client_id, secret = make_client()
    answer = client.post(TOKEN, data={"grant_type": "client_credentials", "client_id": client_id,
                                      "client_secret": secret, "scope": "read"})
    assert answer.status_code == 200 and answer.get_json()["scope"] == "read"
    staff = client.put("/api/v1/staff", json={}, headers=bearer(answer.get_json()["access_token"]))
    assert staff.status_code in (403, 404, 405)  # the token has no "staff" scope (or no such endpoint yet)


def test_refusals_speak_oauth(app, client):
    with app.app_context():
        client_id, secret = make_client(scopes=("read",))
    wrong = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=_basic(client_id, "mnb_wrong"))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    unknown = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=_basic("mnbc_nobody", secret))
    assert unknown.status_code == 401 and unknown.get_json()["error"] == "invalid_client"
    grant = client.post(TOKEN, data={"grant_type": "password"}, headers=_basic(client_id, secret))
    assert grant.status_code == 400 and grant.get_json()["error"] == "unsupported_grant_type"
    scope = client.post(TOKEN, data={"grant_type": "client_credentials", "scope": "read staff"},
                        headers=_basic(client_id, secret))
    assert scope.status_code == 400 and scope.get_json()["error"] == "invalid_scope"
    with app.app_context():
        assert db_session.scalar(select(ApiToken.id).where(ApiToken.client_id.is_not(None))) is None


def test_a_system_account_acts_for_no_person(app, client):
    with app.app_context():
        token = client_token(client, *make_client())
    for method, path in (("GET", "/api/v1/me/enrolments"), ("POST", "/api/v1/sessions/1/enrolments")):
        answer = client.open(path, method=method, headers=bearer(token))
        assert answer.status_code == 403 and answer.content_type == "application/problem+json"
        assert "personal access token" in answer.get_json()["detail"] or "個人" in answer.get_json()["detail"]


def test_a_token_lasts_an_hour_and_revoking_the_account_stops_it_at_once(app, client):
    with app.app_context():
        client_id, secret = make_client()
    with time_machine.travel(now(), tick=False) as traveller:
        token = client_token(client, client_id, secret)
        assert client.get("/api/v1/courses", headers=bearer(token)).status_code == 200
        traveller.shift(timedelta(minutes=61))
        assert client.get("/api/v1/courses", headers=bearer(token)).status_code == 401
        token = client_token(client, client_id, secret)

    revoked = app.test_cli_runner().invoke(args=["api", "revoke-client", client_id])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/v1/courses", headers=bearer(token)).status_code == 401
    again = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=_basic(client_id, secret))
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_client"
    assert app.test_cli_runner().invoke(args=["api", "revoke-client", client_id]).exit_code != 0
    with app.app_context():
        assert db_session.scalar(select(AuditEvent.action).where(AuditEvent.action == "api.client_revoked")) \
            == "api.client_revoked"


def test_a_name_that_could_reach_a_log_or_a_mail_header_is_refused(app):
    runner = app.test_cli_runner()
    for name, role, scopes in (("人事\n給与", "personnel_system", "read"), ("システム", "admin", "read"),
                               ("システム", "hr", "enrol"), ("", "hr", "read")):
        result = runner.invoke(args=["api", "create-client", name, "--role", role, "--scopes", scopes])
        assert result.exit_code != 0
    with app.app_context():
        assert db_session.scalar(select(ApiClient.id)) is None


_CLIENT_ID = re.compile(r'id="new-client-id"[^>]*value="(mnbc_[0-9a-f]+)"')
_CLIENT_SECRET = re.compile(r'id="new-client-secret"[^>]*value="(mnb_[A-Za-z0-9_-]+)"')


def test_an_administrator_registers_and_revokes_a_system_account_on_the_page(app, client):
    with app.app_context():
        admin = factories.employee(roles=(RoleName.ADMIN,))
    factories.login_as(client, admin)
    page = client.get("/admin/api-clients")
    assert page.status_code == 200 and "システムアカウント" in page.get_data(as_text=True)
    # the scopes say what they mean for an account that is no person (no "your enrolments")
    assert "役割で見られるものの閲覧" in page.get_data(as_text=True) and "自分の申込" not in page.get_data(as_text=True)

    refused = factories.post(client, "/admin/api-clients", {"name": "人事\u202e給与", "role": "personnel_system",
                                                            "scopes": ["read"]}, form_page="/admin/api-clients")
    assert refused.status_code == 400 and "システムアカウント名" in refused.get_data(as_text=True)

    made = factories.post(client, "/admin/api-clients", {"name": "人事給与システム", "role": "personnel_system",
                                                         "scopes": ["read", "staff"]}, form_page="/admin/api-clients")
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    text = made.get_data(as_text=True)
    client_id, secret = _CLIENT_ID.search(text).group(1), _CLIENT_SECRET.search(text).group(1)
    listed = client.get("/admin/api-clients").get_data(as_text=True)
    assert client_id in listed and "人事給与システム" in listed and secret not in listed

    http = app.test_client()
    token = client_token(http, client_id, secret)
    assert http.get("/api/v1/courses", headers=bearer(token)).status_code == 200
    with app.app_context():
        row = db_session.scalars(select(ApiClient)).one()
        assert row.created_by_id == admin.id

    revoked = factories.post(client, f"/admin/api-clients/{client_id}/revoke", form_page="/admin/api-clients")
    assert revoked.status_code == 302
    assert http.get("/api/v1/courses", headers=bearer(token)).status_code == 401
    assert "無効化済み" in client.get("/admin/api-clients").get_data(as_text=True)


def test_only_an_administrator_manages_system_accounts(app, client):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
    factories.login_as(client, hr)
    assert client.get("/admin/api-clients").status_code == 403


def test_the_account_page_offers_the_scopes_a_person_can_use(app, client):
    with app.app_context():
        employee = factories.employee()
        hr = factories.employee(roles=(RoleName.HR,))
    factories.login_as(client, employee)
    offered = set(re.findall(r'name="scopes"[^>]*value="(\w+)"', client.get("/account/tokens").get_data(as_text=True)))
    assert offered == {"read", "enrol"}
    refused = factories.post(client, "/account/tokens", {"name": "x", "scopes": ["staff"],
                                                         "expires_on": (today() + timedelta(days=5)).isoformat()},
                             form_page="/account/tokens")
    assert refused.status_code == 400

    other = app.test_client()
    factories.login_as(other, hr)
    offered = set(re.findall(r'name="scopes"[^>]*value="(\w+)"', other.get("/account/tokens").get_data(as_text=True)))
    assert offered == {"read", "enrol", "approve", "attend", "staff"}


def test_a_system_accounts_tokens_share_one_rate_budget(app, client, monkeypatch):
    """Asking for more tokens buys no more requests: the budget is the account's, not each token's."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 4)
    with app.app_context():
        client_id, secret = make_client()
    with time_machine.travel(now().replace(second=5), tick=False):
        first, second = client_token(client, client_id, secret), client_token(client, client_id, secret)
        statuses = [client.get("/api/v1/courses", headers=bearer(token)).status_code
                    for token in (first, second, first, second, first)]
    assert statuses == [200, 200, 200, 200, 429]
