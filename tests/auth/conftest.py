"""The test OpenID Connect provider (tests/oidc_provider.py) for the sign-in tests, and the app
configured to use it as "pref" (match by employee number) and "mail" (match by e-mail)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.oidc_provider import Provider, ProviderUser, running_provider

CLIENT_ID = "manabi-test"
CLIENT_SECRET = "manabi-test-secret-0123456789"


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[Provider]:
    with running_provider() as provider:
        yield provider


def provider_settings(op: Provider, base_url: str) -> dict[str, dict[str, str]]:
    """OIDC_PROVIDERS for an app at `base_url`, and the client registered at the provider for it."""
    op.register_client(CLIENT_ID, CLIENT_SECRET,
                       redirect_uris=[f"{base_url}/login/oidc/{name}/callback" for name in ("pref", "mail")],
                       post_logout_redirect_uris=[f"{base_url}/login"])
    common = {"discovery_url": op.discovery_url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "scopes": "openid email profile"}
    return {
        "pref": {**common, "label": "県庁アカウント", "match_claim": "employee_number", "claim": "employee_number"},
        "mail": {**common, "label": "メールアカウント", "match_claim": "email", "claim": "email"},
    }


@pytest.fixture
def op(app: Flask, oidc_server: Provider, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """The provider, reset, with the app (the session's) configured to use it for this test."""
    oidc_server.reset()
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", provider_settings(oidc_server, app.config["BASE_URL"]))
    app.extensions.pop("manabi.oidc_clients", None)  # a fresh client: discovery fetched again
    yield oidc_server
    app.extensions.pop("manabi.oidc_clients", None)
    oidc_server.reset()


@dataclass
class Browser:
    """One person's browser: the Flask test client for Manabi, a requests session for the
    provider (each keeps its own cookies), and the last answer of each."""

    client: FlaskClient
    at_provider: requests.Session

    def start(self, provider: str = "pref", next_url: str = "") -> str:
        """Press the provider's button on the sign-in page; return where Manabi sends the browser."""
        token = factories.csrf_token(self.client, "/login")
        response = self.client.post(f"/login/oidc/{provider}", data={"csrf_token": token, "next": next_url})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return response.headers["Location"]

    def authorize(self, url: str) -> str:
        """Follow Manabi's redirect to the provider; return the provider's redirect back."""
        response = self.at_provider.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:300]
        return response.headers["Location"]

    def back(self, callback_url: str):  # type: ignore[no-untyped-def]
        """Follow the provider's redirect back to Manabi (the test client serves the path)."""
        parts = urlsplit(callback_url)
        return self.client.get(f"{parts.path}?{parts.query}")

    def sign_in(self, provider: str = "pref", next_url: str = ""):  # type: ignore[no-untyped-def]
        return self.back(self.authorize(self.start(provider, next_url)))

    def close(self) -> None:
        self.at_provider.close()


@pytest.fixture
def visit(app: Flask, op: Provider) -> Iterator[Browser]:
    session = requests.Session()
    session.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
    found = Browser(app.test_client(), session)
    yield found
    found.close()


@pytest.fixture
def oidc_person(app: Flask, op: Provider):  # type: ignore[no-untyped-def]
    """An active employee, known to the provider under the same employee number and e-mail."""
    with app.app_context():
        employee = factories.employee(name="連携 花子")
        number, email = employee.employee_number, employee.email
    op.add_user(ProviderUser(sub=f"sub-{number}", email=email.upper(), employee_number=number))
    op.next_user = f"sub-{number}"
    return employee
