"""Sign-in through an OpenID Connect provider (app/auth/oidc.py), against a real provider running
on 127.0.0.1 (tests/oidc_provider.py, fixtures in tests/auth/conftest.py): the good path, every
way the answer can be wrong (each ends on the sign-in page with a message, signed out, without a
500), people the provider knows but Manabi does not (or no longer), and single logout."""
from __future__ import annotations

import re
import socket
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.auth.models import UserSession
from app.core.db import db_session
from app.org.models import Employee, RoleGrant
from tests import factories
from tests.auth.conftest import CLIENT_ID
from tests.oidc_provider import ProviderUser

FAILED = "でのログインを完了できませんでした"  # "Signing in with … did not succeed"


def signed_in_sessions(app, employee_id: int) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.employee_id == employee_id, UserSession.revoked_at.is_(None))) or 0


def copy_of(app, client: FlaskClient) -> FlaskClient:  # type: ignore[no-untyped-def]
    """Another browser holding a copy of `client`'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def lands_on_sign_in_page_with(visit, response, text: str) -> None:  # type: ignore[no-untyped-def]
    """The answer sends the browser to the sign-in page, which shows `text`; nobody is signed in."""
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert urlsplit(response.headers["Location"]).path == "/login"
    page = visit.client.get(response.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert text in body, body[:2000]
    assert visit.client.get("/").status_code == 302  # still signed out


# --- the good path ------------------------------------------------------------------------------


def test_the_sign_in_page_offers_each_provider_as_a_form_with_a_csrf_token(visit, op):
    body = visit.client.get("/login").get_data(as_text=True)
    assert 'action="/login/oidc/pref"' in body and 'action="/login/oidc/mail"' in body
    assert "県庁アカウントでログイン" in body and "メールアカウントでログイン" in body
    for name in ("pref", "mail"):  # a POST with the CSRF token: no other site can start a sign-in here
        assert re.search(rf'<form method="post" action="/login/oidc/{name}">\s*<input type="hidden" '
                         r'name="csrf_token" value="[^"]+">', body)
    assert 'name="password"' in body  # the password form is still there (PASSWORD_SIGN_IN = local)


def test_the_content_security_policy_lets_those_forms_lead_to_the_provider(visit, op):
    """Browsers apply CSP form-action to the redirects after a POST: without the provider's origin
    the button (and single logout) would stop on a blocked navigation."""
    policy = visit.client.get("/login").headers["Content-Security-Policy"]
    assert f"form-action 'self' {op.issuer};" in policy
    assert "script-src 'self';" in policy  # the rest of the policy is untouched


def test_a_good_sign_in_lands_on_the_home_page_with_a_session(app, visit, op, oidc_person):
    authorize = visit.start()
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(op.issuer + "/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]  # PKCE
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["https://manabi.test.example.jp/login/oidc/pref/callback"]  # from BASE_URL

    response = visit.back(visit.authorize(authorize))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert response.headers["Location"] == "/"
    home = visit.client.get("/")
    assert home.status_code == 200
    assert "連携 花子" in home.get_data(as_text=True)
    assert signed_in_sessions(app, oidc_person.id) == 1
    assert visit.client.get_cookie(app.config["LOGIN_DEVICE_COOKIE_NAME"], path="/login") is not None
    assert op.codes_redeemed == 1


def test_the_page_asked_for_before_signing_in_is_opened_afterwards_and_only_this_sites(visit, oidc_person):
    response = visit.sign_in(next_url="/my-learning")
    assert response.headers["Location"] == "/my-learning"
    visit.client.post("/logout", data={"csrf_token": factories.csrf_token(visit.client, "/")})
    response = visit.sign_in(next_url="//evil.example/")
    assert response.headers["Location"] == "/"


def test_the_person_is_matched_by_e_mail_ignoring_case(app, visit, op, oidc_person):
    response = visit.sign_in("mail")  # the provider sends the address in capitals
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "連携 花子" in visit.client.get("/").get_data(as_text=True)
    assert signed_in_sessions(app, oidc_person.id) == 1


def test_an_address_the_provider_has_not_verified_is_not_trusted(app, visit, op, oidc_person):
    user = op.users[op.next_user or ""]
    op.add_user(ProviderUser(sub=user.sub, email=user.email, employee_number=user.employee_number,
                             email_verified=False))
    lands_on_sign_in_page_with(visit, visit.sign_in("mail"), FAILED)
    assert signed_in_sessions(app, oidc_person.id) == 0


def test_a_claim_the_id_token_lacks_is_read_from_userinfo(app, visit, op, oidc_person):
    op.knobs.employee_number_in_userinfo_only = True
    response = visit.sign_in()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in_sessions(app, oidc_person.id) == 1


# --- answers that must be refused ---------------------------------------------------------------


@pytest.mark.parametrize("knob", ["wrong_nonce", "expired_token", "other_key", "wrong_issuer", "wrong_audience"])
def test_an_id_token_that_fails_verification_is_refused(app, visit, op, oidc_person, knob):
    setattr(op.knobs, knob, True)
    lands_on_sign_in_page_with(visit, visit.sign_in(), "県庁アカウント" + FAILED)
    assert signed_in_sessions(app, oidc_person.id) == 0


def test_a_replayed_code_is_refused(app, visit, op, oidc_person):
    callback = visit.authorize(visit.start())
    thief = copy_of(app, visit.client)  # the browser's cookie (with the state) before the callback
    assert visit.back(callback).headers["Location"] == "/"

    replay = thief.get(urlsplit(callback).path + "?" + urlsplit(callback).query)
    assert replay.status_code == 302 and urlsplit(replay.headers["Location"]).path == "/login"
    assert FAILED in thief.get("/login").get_data(as_text=True)
    assert thief.get("/").status_code == 302
    assert signed_in_sessions(app, oidc_person.id) == 1 and op.codes_redeemed == 1


def test_a_forged_state_is_refused_before_the_code_is_used(app, visit, op, oidc_person):
    callback = urlsplit(visit.authorize(visit.start()))
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    query["state"] = "forged-state-value"
    forged = urlunsplit(("", "", callback.path, "&".join(f"{k}={v}" for k, v in query.items()), ""))
    lands_on_sign_in_page_with(visit, visit.client.get(forged), FAILED)
    assert op.codes_redeemed == 0 and signed_in_sessions(app, oidc_person.id) == 0


def test_a_callback_no_sign_in_was_started_for_is_refused(visit, op, oidc_person):
    """Login CSRF: a code and state from someone else's flow, sent to this browser."""
    attacker = visit.authorize(visit.start())
    victim = visit.client.application.test_client()
    response = victim.get(urlsplit(attacker).path + "?" + urlsplit(attacker).query)
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert FAILED in victim.get("/login").get_data(as_text=True)
    assert victim.get("/").status_code == 302


def test_refused_consent_says_so(visit, op, oidc_person):
    op.knobs.deny_consent = True
    lands_on_sign_in_page_with(visit, visit.sign_in(), "県庁アカウントでのログインは取り消されました")


def test_a_sign_in_cannot_be_started_without_the_csrf_token(visit, op):
    response = visit.client.post("/login/oidc/pref", data={"next": ""})
    assert response.status_code == 400
    assert visit.client.post("/login/oidc/nope", data={"csrf_token": factories.csrf_token(visit.client)}
                             ).status_code == 404


# --- people the provider knows and Manabi does not ---------------------------------------------


def test_an_unknown_person_gets_a_clear_page_and_is_not_created(app, visit, op):
    with app.app_context():
        people_before = db_session.scalar(select(func.count()).select_from(Employee))
        grants_before = db_session.scalar(select(func.count()).select_from(RoleGrant))
    op.add_user(ProviderUser(sub="stranger", email="stranger@pref.example.lg.jp", employee_number="<b>9999</b>"))
    op.next_user = "stranger"
    response = visit.sign_in()
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "一致するまなびのアカウントがありません" in body
    assert "人事課の研修担当" in body  # whom to ask
    assert "&lt;b&gt;9999&lt;/b&gt;" in body and "<b>9999" not in body  # shown to them, escaped
    assert visit.client.get("/").status_code == 302
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Employee)) == people_before
        assert db_session.scalar(select(func.count()).select_from(RoleGrant)) == grants_before


def test_a_deactivated_person_is_told_the_account_is_not_active(app, visit, op):
    with app.app_context():
        gone = factories.employee(active=False)
    op.add_user(ProviderUser(sub="gone", email=gone.email, employee_number=gone.employee_number))
    op.next_user = "gone"
    response = visit.sign_in()
    assert response.status_code == 403
    assert "まなびのアカウントが有効ではありません" in response.get_data(as_text=True)
    assert visit.client.get("/").status_code == 302
    assert signed_in_sessions(app, gone.id) == 0


# --- a provider that is down ----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_provider_that_cannot_be_reached_gets_a_clear_message(app, visit, op, monkeypatch):
    settings = {**app.config["OIDC_PROVIDERS"]}
    settings["pref"] = {**settings["pref"],
                        "discovery_url": f"http://127.0.0.1:{_closed_port()}/.well-known/openid-configuration"}
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", settings)
    token = factories.csrf_token(visit.client, "/login")
    response = visit.client.post("/login/oidc/pref", data={"csrf_token": token, "next": ""})
    lands_on_sign_in_page_with(visit, response, "現在県庁アカウントに接続できない")


def test_a_provider_that_fails_at_the_token_endpoint_gets_a_clear_message(app, visit, op, oidc_person):
    callback = visit.authorize(visit.start())
    op.knobs.token_endpoint_down = True
    lands_on_sign_in_page_with(visit, visit.back(callback), "現在県庁アカウントに接続できない")
    assert signed_in_sessions(app, oidc_person.id) == 0


# --- single logout --------------------------------------------------------------------------------


def test_signing_out_ends_the_session_and_signs_out_at_the_provider(app, visit, op, oidc_person):
    assert visit.sign_in().headers["Location"] == "/"
    copy = copy_of(app, visit.client)
    response = visit.client.post("/logout", data={"csrf_token": factories.csrf_token(visit.client, "/")})

    assert response.status_code == 302
    end_session = urlsplit(response.headers["Location"])
    assert f"{end_session.scheme}://{end_session.netloc}{end_session.path}" == op.issuer + "/end-session"
    query = parse_qs(end_session.query)
    assert query["post_logout_redirect_uri"] == ["https://manabi.test.example.jp/login"]
    assert query["client_id"] == [CLIENT_ID] and query["id_token_hint"][0].count(".") == 2
    # The Manabi session has ended, on every copy of the cookie.
    assert visit.client.get("/").status_code == 302
    assert copy.get("/").status_code == 302
    assert signed_in_sessions(app, oidc_person.id) == 0

    # The provider accepts the hint and sends the browser back to the sign-in page, signed out there too.
    back = visit.at_provider.get(response.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302
    assert back.headers["Location"].startswith("https://manabi.test.example.jp/login?state=")
    assert "ログアウトしました" in visit.client.get("/login").get_data(as_text=True)
    op.next_user = None  # nobody to sign in as: the provider's own session must have ended
    again = visit.at_provider.get(visit.start(), allow_redirects=False, timeout=10)
    assert "error=access_denied" in again.headers["Location"]


def test_a_large_id_token_stays_out_of_the_cookie_and_logout_still_reaches_the_provider(app, visit, op, oidc_person):
    """An Entra ID token with 150 groups is ~7 KB: kept in the cookie, the browser would drop the
    cookie (4 KB) and the person could never stay signed in."""
    op.knobs.groups_in_id_token = 150
    signed = visit.sign_in()
    assert signed.headers["Location"] == "/"
    cookie = visit.client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None and len(cookie.value) < 4000
    assert visit.client.get("/").status_code == 200
    response = visit.client.post("/logout", data={"csrf_token": factories.csrf_token(visit.client, "/")})
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["client_id"] == [CLIENT_ID] and "id_token_hint" not in query
    assert visit.client.get("/").status_code == 302


def test_signing_out_after_a_password_sign_in_stays_on_this_site(visit, op, oidc_person):
    factories.login_as(visit.client, oidc_person)
    response = visit.client.post("/logout", data={"csrf_token": factories.csrf_token(visit.client, "/")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert op.end_session_requests == []


# --- password sign-in switched off ---------------------------------------------------------------


def test_with_password_sign_in_off_the_form_is_folded_for_administrators(app, visit, op, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_SIGN_IN", "off")
    body = visit.client.get("/login").get_data(as_text=True)
    assert "<details" in body and "管理者用（緊急時）" in body
    assert body.index("県庁アカウントでログイン") < body.index("<details")


# --- the setting --------------------------------------------------------------------------------


def test_a_discovery_document_of_another_issuer_is_not_used(app, visit, op, monkeypatch):
    settings = {**app.config["OIDC_PROVIDERS"]}
    settings["pref"] = {**settings["pref"], "issuer": op.issuer + "/"}  # one character off
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", settings)
    token = factories.csrf_token(visit.client, "/login")
    response = visit.client.post("/login/oidc/pref", data={"csrf_token": token, "next": ""})
    lands_on_sign_in_page_with(visit, response, "県庁アカウント" + FAILED)


@pytest.mark.parametrize(("change", "complaint"), [
    ({"match_claim": "name"}, "match_claim"),
    ({"client_id": ""}, "needs client_id"),
    ({"discovery_url": "https://sso.example.jp/oidc"}, "give the issuer"),
    ({"scopes": "email profile"}, "openid"),
])
def test_a_mistake_in_the_setting_stops_the_app_from_starting(tmp_path, change, complaint):
    from tests.conftest import build_app

    good = {"label": "県庁", "discovery_url": "https://sso.example.jp/.well-known/openid-configuration",
            "client_id": "manabi", "client_secret": "s", "match_claim": "email"}
    build_app("sqlite://", tmp_path, OIDC_PROVIDERS={"pref": good}).extensions["manabi.engine"].dispose()
    with pytest.raises(RuntimeError, match=complaint):
        build_app("sqlite://", tmp_path, OIDC_PROVIDERS={"pref": {**good, **change}})


def test_the_setting_is_read_from_the_environment_with_the_secret_apart(monkeypatch):
    from config import _oidc_providers

    monkeypatch.setenv("OIDC_PROVIDERS", '{"pref": {"label": "県庁アカウント", "client_id": "manabi"}}')
    monkeypatch.setenv("OIDC_PREF_CLIENT_SECRET", "from-the-environment")
    assert _oidc_providers() == {"pref": {"label": "県庁アカウント", "client_id": "manabi",
                                          "client_secret": "from-the-environment"}}
    monkeypatch.setenv("OIDC_PROVIDERS", '["pref"]')
    with pytest.raises(RuntimeError, match="JSON object"):
        _oidc_providers()
