from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import Credential
from app.auth.passwords import verify_password
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories


@pytest.fixture
def person(app):
    with app.app_context():
        return factories.employee(email="hanako.sato@pref.example.lg.jp", number="123456")


def test_sign_in_by_employee_number(client, person):
    response = factories.login(client, "123456")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "試験" in client.get("/").get_data(as_text=True)


def test_sign_in_by_email_ignores_case(client, person):
    response = factories.login(client, "Hanako.Sato@PREF.example.lg.jp")
    assert response.status_code == 302


def test_wrong_password_is_refused_with_a_clear_message(client, person):
    response = factories.login(client, "123456", "wrong-password")
    assert response.status_code == 401
    assert "パスワードが正しくありません" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_deactivated_person_cannot_sign_in(app, client):
    with app.app_context():
        gone = factories.employee(active=False)
    assert factories.login(client, gone.employee_number).status_code == 401


def test_sign_out_requires_post_and_ends_the_session(client, person):
    factories.login_as(client, person)
    assert client.get("/logout").status_code == 405
    response = factories.post(client, "/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_post_without_csrf_token_is_refused(client, person):
    response = client.post("/login", data={"login": "123456", "password": factories.PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_account_is_throttled_after_repeated_failures(app, client, person):
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert factories.login(client, "123456", "nope-nope").status_code == 401
    # Locked now: even the right password is refused, with the wait time in the message.
    response = factories.login(client, "123456")
    assert response.status_code == 401
    assert "しばらく" in response.get_data(as_text=True) or "分後" in response.get_data(as_text=True)
    # Another account from the same address is not locked by this one.
    with app.app_context():
        other = factories.employee()
    assert factories.login(client, other.employee_number).status_code == 302


def test_throttle_window_expires(app, client, person):
    from datetime import timedelta

    import time_machine

    from app.core.clock import now

    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        factories.login(client, "123456", "nope-nope")
    with time_machine.travel(now() + timedelta(seconds=app.config["LOGIN_THROTTLE_WINDOW_SECONDS"] + 1)):
        assert factories.login(client, "123456").status_code == 302


def test_address_is_throttled_across_accounts(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 20)  # the default fits an office: 300
    limit = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    for n in range(limit):
        factories.login(client, f"nobody-{n}", "nope-nope")
    with app.app_context():
        someone = factories.employee()
    response = factories.login(client, someone.employee_number)
    assert response.status_code == 401
    # A different client address is not affected.
    other = app.test_client()
    token = factories.csrf_token(other)
    response = other.post("/login", data={"login": someone.employee_number, "password": factories.PASSWORD,
                                          "csrf_token": token}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "/\\evil.example", "https://evil.example/", "http:evil.example", "\\\\evil",
     "javascript:alert(1)", "/\r\nSet-Cookie:x=1", " //evil.example"],
)
def test_next_never_redirects_off_site(client, person, target):
    response = factories.login(client, "123456", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_redirects_inside_the_site(client, person):
    response = factories.login(client, "123456", next="/account/password?x=1")
    assert response.headers["Location"] == "/account/password?x=1"


def test_signed_out_visit_comes_back_after_sign_in(client, person):
    response = client.get("/account/password")
    assert response.headers["Location"] == "/login?next=/account/password"
    response = factories.login(client, "123456", next="/account/password")
    assert response.headers["Location"] == "/account/password"


def test_change_own_password(app, client, person):
    factories.login_as(client, person)
    token = factories.csrf_token(client, "/account/password")
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": factories.PASSWORD,
        "new_password": "a-much-better-passphrase", "confirm": "a-much-better-passphrase"})
    assert response.status_code == 302
    with app.app_context():
        credential = db_session.get(Credential, person.id)
        assert verify_password(credential.password_hash, "a-much-better-passphrase")
        assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.password_changed"))
    factories.post(client, "/logout")
    assert factories.login(client, "123456", "a-much-better-passphrase").status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field_error"),
    [
        ("wrong-current", "a-much-better-passphrase", "a-much-better-passphrase", "現在のパスワード"),
        (factories.PASSWORD, "short", "short", "文字以上"),
        (factories.PASSWORD, "a-much-better-passphrase", "different-passphrase", "一致しません"),
        (factories.PASSWORD, "x123456-passphrase", "x123456-passphrase", "職員番号"),
    ],
)
def test_password_change_problems_are_named(app, client, person, current, new, confirm, field_error):
    factories.login_as(client, person)
    token = factories.csrf_token(client, "/account/password")
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": current, "new_password": new, "confirm": confirm})
    assert response.status_code == 400
    assert field_error in response.get_data(as_text=True)
    with app.app_context():
        assert verify_password(db_session.get(Credential, person.id).password_hash, factories.PASSWORD)


def test_temporary_password_must_be_changed_at_first_sign_in(app, client):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        newcomer = factories.employee()
    factories.login_as(client, hr)
    token = factories.csrf_token(client, f"/org/staff/{newcomer.id}")
    response = client.post(f"/org/staff/{newcomer.id}/temporary-password",
                           data={"csrf_token": token, "confirm": "y"})
    assert response.status_code == 200
    import re

    temporary = re.search(r'id="temporary-password"><code>([^<]+)</code>', response.get_data(as_text=True)).group(1)
    factories.post(client, "/logout")

    assert factories.login(client, newcomer.employee_number, temporary).headers["Location"] == "/account/password"
    # Every other page sends them back to the password change until they choose their own.
    assert client.get("/").headers["Location"] == "/account/password"
    token = factories.csrf_token(client, "/account/password")
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": temporary,
        "new_password": "my-own-passphrase-9", "confirm": "my-own-passphrase-9"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    with app.app_context():
        events = db_session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(newcomer.id))).all()
    assert "auth.temporary_password_issued" in events and "auth.password_changed" in events


def test_only_hr_and_admin_issue_temporary_passwords(app, client):
    with app.app_context():
        colleague = factories.employee()
        victim = factories.employee()
    factories.login_as(client, colleague)
    response = factories.post(client, f"/org/staff/{victim.id}/temporary-password", {"confirm": "y"})
    assert response.status_code == 403


def test_locale_choice_is_remembered_for_the_user(app, client, person):
    factories.login_as(client, person)
    response = factories.post(client, "/locale", {"locale": "en", "next": "/account/password"})
    assert response.headers["Location"] == "/account/password"
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
    factories.post(client, "/logout")
    fresh = app.test_client()
    factories.login_as(fresh, person)
    assert 'lang="en"' in fresh.get("/").get_data(as_text=True)


def test_locale_switch_next_is_safe(client):
    token = factories.csrf_token(client)
    response = client.post("/locale", data={"csrf_token": token, "locale": "en", "next": "//evil.example"})
    assert response.headers["Location"] == "/"


def test_a_hash_made_with_older_settings_is_upgraded_at_the_next_sign_in(app, client, person):
    """Changing ARGON2_* (the sign-in storm of an enrolment morning made the default cost too dear)
    must not lock anyone out: an old hash still verifies, and the right password re-hashes it."""
    from argon2 import PasswordHasher

    older = PasswordHasher(time_cost=3, memory_cost=2048, parallelism=2).hash(factories.PASSWORD)
    with app.app_context():
        db_session.get(Credential, person.id).password_hash = older
        db_session.commit()
    assert factories.login(client, "123456", "wrong-password").status_code == 401
    with app.app_context():
        assert db_session.get(Credential, person.id).password_hash == older  # a wrong password changes nothing
    assert factories.login(client, "123456").status_code == 302
    with app.app_context():
        upgraded = db_session.get(Credential, person.id).password_hash
    assert upgraded != older
    assert f"m={app.config['ARGON2_MEMORY_COST']},t={app.config['ARGON2_TIME_COST']}," in upgraded
    assert verify_password(upgraded, factories.PASSWORD)
    factories.post(client, "/logout")
    assert factories.login(client, "123456").status_code == 302

