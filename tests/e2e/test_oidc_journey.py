"""Signing in through the prefecture's OpenID Connect provider in a real browser: the button on
the sign-in page, the provider (tests/oidc_provider.py, on its own port of 127.0.0.1 with its own
cookie name), back to Manabi's home page signed in, then signing out of both (RP-initiated logout).

The live server is shared by the browser tests: the provider is configured on it only for this
module and removed afterwards, and the demo account is left signed out."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.core.db import db_session
from app.org.models import Employee
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, sign_out_button
from tests.e2e.test_accessibility import axe_problems
from tests.oidc_provider import Provider, ProviderUser, running_provider

pytestmark = pytest.mark.browser

CLIENT_ID = "manabi-e2e"
CLIENT_SECRET = "manabi-e2e-secret-0123456789"


@pytest.fixture(scope="module")
def provider(live_server: LiveServer) -> Iterator[Provider]:
    config = live_server.app.config
    with running_provider() as op:
        op.register_client(CLIENT_ID, CLIENT_SECRET, redirect_uris=[f"{live_server.url}/login/oidc/pref/callback"],
                           post_logout_redirect_uris=[f"{live_server.url}/login"])
        before = config["OIDC_PROVIDERS"]
        config["OIDC_PROVIDERS"] = {"pref": {
            "label": "県庁アカウント", "discovery_url": op.discovery_url, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "match_claim": "employee_number", "claim": "employee_number",
            "scopes": "openid email profile"}}
        try:
            yield op
        finally:
            config["OIDC_PROVIDERS"] = before
            live_server.app.extensions.pop("manabi.oidc_clients", None)


def test_an_employee_signs_in_with_the_prefecture_account_and_signs_out_of_both(
        new_context, live_server: LiveServer, provider: Provider, shot) -> None:
    login = live_server.login_for("employee")
    with live_server.app.app_context():
        employee = db_session.scalars(select(Employee).where(Employee.employee_number == login)).one()
        name, email = employee.name, employee.email
        db_session.remove()
    provider.add_user(ProviderUser(sub="e2e-employee", email=email, employee_number=login, name=name))
    provider.next_user = "e2e-employee"

    context = new_context(locale="ja-JP")
    page: Page = context.new_page()
    page.goto("/login")
    button = page.get_by_role("button", name=either("県庁アカウントでログイン", "Sign in with 県庁アカウント"))
    expect(button).to_be_visible()
    expect(page.get_by_label(either("職員番号またはメールアドレス", "Employee number or e-mail"))).to_be_visible()
    shot(page, "01-sign-in-page-with-provider")
    assert axe_problems(page) == []  # the provider's button and the password form, for axe-core

    button.click()  # to the provider, which signs the person in at once and sends them back
    expect(page).to_have_url(live_server.url + "/")
    expect(sign_out_button(page)).to_be_visible()
    expect(page.locator("body")).to_contain_text(name)
    cookies = {c["name"] for c in context.cookies()}
    assert {"session", "test_op_session"} <= cookies  # two cookies on 127.0.0.1, neither overwrote the other
    shot(page, "02-home-signed-in")

    sign_out_button(page).click()  # Manabi's session ends, then the provider's, then back to sign-in
    expect(page).to_have_url(re.compile("^" + re.escape(live_server.url + "/login") + r"(\?state=[\w-]+)?$"))
    expect(page.get_by_role("status")).to_have_text(either("ログアウトしました。", "You have signed out."))
    expect(sign_out_button(page)).to_have_count(0)
    assert provider.end_session_requests and provider.end_session_requests[-1].get("id_token_hint")
    assert "test_op_session" not in {c["name"] for c in context.cookies()}  # signed out at the provider too
    shot(page, "03-signed-out-of-both")
    context.close()
