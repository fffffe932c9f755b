"""Signing in with the prefecture's directory (issue 19): a real slapd (tests/ldap_server.py), StartTLS
with the test CA, the person bound by DN after the service account found them.

What people notice: their directory (PC) password lets them in and their Manabi one no longer does;
a password changed in the directory works at once; a typed `*` matches nobody; a directory that is
down says so and costs nobody a sign-in attempt, while the break-glass administrator still gets in;
the account pages stop offering a Manabi password the person cannot use.
"""
from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from ldap3 import MODIFY_REPLACE, Connection, Server
from sqlalchemy import select

from app.auth import directory as directory_module
from app.auth.directory import Directory, DirectorySettings
from app.auth.models import Credential, LoginThrottle
from app.auth.services import AuthError, PasswordSignIn, sign_in
from app.auth.throttling import ThrottlePolicy, account_key
from app.core.db import db_session
from app.org.models import Employee, RoleName
from tests import factories
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    PEOPLE_BASE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    LdapServer,
    free_port,
    person,
)

INCORRECT = "パスワードが正しくありません"
UNREACHABLE = "ディレクトリに接続できません"
ADMIN_NUMBER = "900001"


def directory_config(server: LdapServer, **changes: object) -> dict[str, object]:
    return {
        "PASSWORD_SIGN_IN": "ldap", "BREAK_GLASS_LOGINS": [ADMIN_NUMBER],
        "LDAP_URL": server.url, "LDAP_START_TLS": True, "LDAP_CA_FILE": server.ca_file,
        "LDAP_BIND_DN": SERVICE_DN, "LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
        "LDAP_USER_BASE": PEOPLE_BASE, "LDAP_USER_FILTER": "(employeeNumber={login})",
        "LDAP_TIMEOUT_SECONDS": 3, **changes,
    }


@pytest.fixture
def ldap_mode(app: Flask, ldap_server: LdapServer, monkeypatch: pytest.MonkeyPatch) -> LdapServer:
    for key, value in directory_config(ldap_server).items():
        monkeypatch.setitem(app.config, key, value)
    return ldap_server


@pytest.fixture
def suzuki(app: Flask) -> Employee:
    """In the directory (uid=suzuki) and an active employee here, with a Manabi password too."""
    with app.app_context():
        return factories.employee(number="100002", email="hanako.suzuki@pref.example.lg.jp")


@pytest.fixture
def administrator(app: Flask) -> Employee:
    """The break-glass account: not in the directory, signs in with the Manabi password."""
    with app.app_context():
        return factories.employee(number=ADMIN_NUMBER, roles=(RoleName.ADMIN,))


def failures(app: Flask, employee: Employee) -> int:
    with app.app_context():
        row = db_session.get(LoginThrottle, account_key(employee.id))
        return row.failures if row is not None else 0


def text(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.get_data(as_text=True))


@pytest.fixture
def directory_admin(ldap_server: LdapServer) -> Iterator[Connection]:
    connection = Connection(Server(ldap_server.url), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
    yield connection
    connection.unbind()


def set_directory_password(admin: Connection, uid: str, password: str) -> None:
    assert admin.modify(person(uid).dn, {"userPassword": [(MODIFY_REPLACE, [password])]}), admin.result


# --- signing in ---------------------------------------------------------------------------------------


def test_the_directory_password_signs_in_over_starttls_and_the_manabi_one_no_longer_does(
        app, client, ldap_mode, suzuki):
    refused = factories.login(client, "100002", factories.PASSWORD)  # the Manabi password
    assert refused.status_code == 401 and INCORRECT in text(refused)
    response = factories.login(client, "100002", person("suzuki").password)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert suzuki.name in text(client.get("/"))
    assert failures(app, suzuki) == 0  # the success forgot the failure before it


def test_signing_in_by_e_mail_works_when_the_filter_accepts_it(app, client, ldap_mode, suzuki, monkeypatch):
    monkeypatch.setitem(app.config, "LDAP_USER_FILTER", "(|(employeeNumber={login})(mail={login}))")
    response = factories.login(client, "hanako.suzuki@pref.example.lg.jp", person("suzuki").password)
    assert response.status_code == 302


def test_a_wrong_password_is_refused_and_counts_against_the_person(app, client, ldap_mode, suzuki):
    response = factories.login(client, "100002", "not-her-password")
    assert response.status_code == 401 and INCORRECT in text(response)
    assert failures(app, suzuki) == 1
    assert client.get("/").status_code == 302  # still signed out


def test_an_empty_password_is_refused_before_any_bind(app, ctx, ldap_mode, suzuki, monkeypatch):
    binds: list[str] = []
    real_bind = Directory._bind

    def spy(self: Directory, dn: str, password: str) -> Connection | None:
        binds.append(dn)
        return real_bind(self, dn, password)

    monkeypatch.setattr(Directory, "_bind", spy)
    with pytest.raises(AuthError, match=INCORRECT):
        sign_in("100002", "", "192.0.2.1", ThrottlePolicy.from_config(app.config), None,
                PasswordSignIn.from_config(app.config))
    assert binds == []  # not even the service account: an empty password never reaches the directory
    assert failures(app, suzuki) == 1


@pytest.mark.parametrize("login", ["*", "*)(uid=*", "100002)(|(uid=*", "1000*"])
def test_filter_characters_in_the_login_match_nobody(app, ldap_mode, login):
    directory = Directory(DirectorySettings.from_config(app.config))
    assert directory.find_person_dn("100002") == person("suzuki").dn
    assert directory.find_person_dn(login) is None
    assert directory.check_password(login, person("suzuki").password) is False


def test_a_login_with_filter_characters_cannot_sign_in(client, ldap_mode, suzuki):
    response = factories.login(client, "*)(uid=*", person("suzuki").password)
    assert response.status_code == 401 and INCORRECT in text(response)


def test_a_password_changed_in_the_directory_works_at_once_and_the_old_one_fails(
        app, ldap_mode, directory_admin):
    with app.app_context():
        factories.employee(number="100004", email="misaki.tanaka@pref.example.lg.jp")
    old = person("tanaka").password
    set_directory_password(directory_admin, "tanaka", "tanaka-new-pass-5")
    try:
        assert factories.login(app.test_client(), "100004", "tanaka-new-pass-5").status_code == 302
        assert factories.login(app.test_client(), "100004", old).status_code == 401
    finally:
        set_directory_password(directory_admin, "tanaka", old)


def test_someone_in_the_directory_but_deactivated_here_is_refused(app, client, ldap_mode):
    with app.app_context():
        factories.employee(number="100003", active=False)
    response = factories.login(client, "100003", person("takahashi").password)
    assert response.status_code == 401 and INCORRECT in text(response)


def test_someone_in_the_directory_but_not_employed_here_is_refused(client, ldap_mode):
    # uid=sato is in the directory with a valid password; Manabi has no employee 100001
    response = factories.login(client, "100001", person("sato").password)
    assert response.status_code == 401 and INCORRECT in text(response)


# --- the directory down, misconfigured or untrusted ------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("change", ["wrong port", "no answer", "untrusted certificate", "no encryption",
                                    "service refused"])
def test_a_directory_that_cannot_be_used_says_so_counts_nothing_and_the_administrator_still_signs_in(
        app, client, ldap_mode, suzuki, administrator, monkeypatch, tmp_path, change, silent_server):
    if change == "wrong port":
        monkeypatch.setitem(app.config, "LDAP_URL", f"ldap://127.0.0.1:{free_port()}")
    elif change == "no answer":  # the receive timeout ends the wait
        monkeypatch.setitem(app.config, "LDAP_URL", silent_server)
        monkeypatch.setitem(app.config, "LDAP_TIMEOUT_SECONDS", 1)
    elif change == "untrusted certificate":
        monkeypatch.setitem(app.config, "LDAP_CA_FILE", str(other_ca(tmp_path)))
    elif change == "no encryption":
        monkeypatch.setitem(app.config, "LDAP_START_TLS", False)
    else:
        monkeypatch.setitem(app.config, "LDAP_BIND_PASSWORD", "not-the-service-password")
    response = factories.login(client, "100002", person("suzuki").password)
    assert response.status_code == 401 and UNREACHABLE in text(response)
    assert failures(app, suzuki) == 0  # the person's throttle is untouched
    assert client.get("/").status_code == 302

    admin = factories.login(client, ADMIN_NUMBER, factories.PASSWORD)
    assert admin.status_code == 302 and admin.headers["Location"] == "/"


def other_ca(directory: Path) -> Path:
    """A CA that did not sign the test server's certificate."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "1", "-subj", "/CN=Other CA"],
                   check=True, cwd=directory, capture_output=True)
    return directory / "other.pem"


def test_the_break_glass_administrator_never_uses_the_directory(client, ldap_mode, administrator, monkeypatch):
    monkeypatch.setattr(directory_module.Directory, "check_password",
                        lambda *args: pytest.fail("the directory was asked"))  # type: ignore[misc]
    assert factories.login(client, ADMIN_NUMBER, "wrong-password-9").status_code == 401
    assert factories.login(client, ADMIN_NUMBER, factories.PASSWORD).status_code == 302


# --- password sign-in off -------------------------------------------------------------------------------


def test_with_password_sign_in_off_only_the_break_glass_login_signs_in(app, client, suzuki, administrator,
                                                                       monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_SIGN_IN", "off")
    monkeypatch.setitem(app.config, "BREAK_GLASS_LOGINS", [ADMIN_NUMBER])
    response = factories.login(client, "100002", factories.PASSWORD)
    assert response.status_code == 401
    assert "パスワードでのログインは無効" in text(response)
    assert failures(app, suzuki) == 0
    assert factories.login(client, ADMIN_NUMBER, factories.PASSWORD).status_code == 302


# --- the account pages ----------------------------------------------------------------------------------


def test_the_change_password_page_points_to_the_directory(app, ldap_mode, suzuki, administrator):
    client = app.test_client()
    assert factories.login(client, "100002", person("suzuki").password).status_code == 302
    page = text(client.get("/account/password"))
    assert "ディレクトリ" in page and 'name="new_password"' not in page
    assert factories.post(client, "/account/password", {"current_password": "x", "new_password": "y" * 12,
                                                         "confirm": "y" * 12}).status_code == 400

    admins = app.test_client()
    factories.login_as(admins, administrator)
    assert 'name="new_password"' in text(admins.get("/account/password"))


def test_hr_is_not_offered_a_temporary_password_for_someone_who_uses_the_directory(
        app, ldap_mode, suzuki, administrator, monkeypatch):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
    monkeypatch.setitem(app.config, "BREAK_GLASS_LOGINS", [ADMIN_NUMBER, hr.employee_number])
    client = app.test_client()
    factories.login_as(client, hr)
    page = text(client.get(f"/org/staff/{suzuki.id}"))
    assert "temporary-password" not in page  # no form to issue one
    assert "ディレクトリで再設定してください" in page
    response = factories.post(client, f"/org/staff/{suzuki.id}/temporary-password", {"confirm": "y"},
                              form_page=f"/org/staff/{suzuki.id}")
    assert response.status_code == 302
    with app.app_context():
        credential = db_session.scalars(select(Credential).where(Credential.employee_id == suzuki.id)).one()
        assert credential.must_change is False  # nothing was issued

