"""Sign-in throttling that fits a reverse proxy (issue 14, finding 3).

Behind the prefecture's proxy every employee arrives from one address: with TRUSTED_PROXY_COUNT
the real client address counts, one attacker locks nobody else out, the account lock keys on the
person (number and e-mail are one account), and the owner is slowed, never locked out: the delay
grows and ends, the browser they signed in from before skips it, and a single-use link by mail
lifts it for a new browser.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auth.models import LoginThrottle, LoginUnlock, UserSession
from app.auth.throttling import ThrottlePolicy, delay_after
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee
from app.reminders.models import Notification
from config import Config, TestConfig
from tests import factories

PROXY = "10.0.0.1"  # the prefecture's reverse proxy: every request reaches the app from here
ATTACKER = "172.16.5.66"
WRONG = "wrong-password-1"
DELAYED = "しばらく"  # in the message of a delayed account ("しばらくお待ちいただいています")
INCORRECT = "パスワードが正しくありません"


@pytest.fixture
def behind_proxy(app, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_COUNT", 1)


@pytest.fixture
def person(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee(number="246810", email="Hanako.Tanaka@pref.example.lg.jp")


def attempt(client: FlaskClient, login: str, password: str = factories.PASSWORD, *,
            via: str | None = None, remote: str = PROXY):  # type: ignore[no-untyped-def]
    """A sign-in from a browser at `via` (X-Forwarded-For, as the proxy writes it) through `remote`."""
    headers = {"X-Forwarded-For": via} if via else {}
    environ = {"REMOTE_ADDR": remote}
    page = client.get("/login", headers=headers, environ_base=environ).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token},
                       headers=headers, environ_base=environ)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def unlock_mails(app, person: Employee) -> list[Notification]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(db_session.scalars(select(Notification).where(
            Notification.recipient_id == person.id, Notification.kind == "sign_in_unlock")))


# --- the proxy ----------------------------------------------------------------------------------------


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(app, person):
    assert Config.TRUSTED_PROXY_COUNT == 0 and TestConfig.TRUSTED_PROXY_COUNT == 0  # off by default
    client = app.test_client()
    assert attempt(client, person.employee_number, via="192.0.2.77").status_code == 302
    with app.app_context():
        row = db_session.scalars(select(UserSession).where(UserSession.employee_id == person.id)).one()
        assert row.address == PROXY  # a client cannot choose its address by sending the header


def test_only_the_address_the_trusted_proxy_saw_counts(app, person, behind_proxy):
    client = app.test_client()
    # A client may send its own X-Forwarded-For; the proxy appends the address it saw.
    assert attempt(client, person.employee_number, via="1.2.3.4, 192.0.2.77").status_code == 302
    with app.app_context():
        row = db_session.scalars(select(UserSession).where(UserSession.employee_id == person.id)).one()
        assert row.address == "192.0.2.77"


def test_one_attacker_behind_the_proxy_does_not_lock_out_colleagues(app, behind_proxy):
    """Before: 20 failures from anywhere behind the proxy locked every employee out."""
    with app.app_context():
        colleagues = [factories.employee() for _ in range(3)]
    attacker = app.test_client()
    for n in range(25):
        assert attempt(attacker, f"guess-{n}", WRONG, via=ATTACKER).status_code == 401
    for n, colleague in enumerate(colleagues):
        browser = app.test_client()
        assert attempt(browser, colleague.employee_number, via=f"172.16.8.{n + 10}").status_code == 302


def test_the_address_ceiling_fits_an_office_and_still_stops_one_address(app, person, behind_proxy, monkeypatch):
    assert TestConfig.LOGIN_MAX_FAILURES_PER_ADDRESS >= 300  # a whole office behind one NAT address
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 12)
    attacker = app.test_client()
    for n in range(12):  # many names, each below its own account delay
        assert attempt(attacker, f"name-{n}", WRONG, via=ATTACKER).status_code == 401
    # The ceiling is reached: that address is refused even for a right password...
    response = attempt(app.test_client(), person.employee_number, via=ATTACKER)
    assert response.status_code == 401 and "分後" in text(response)
    with app.app_context():
        assert db_session.scalars(select(UserSession).where(UserSession.employee_id == person.id)).first() is None
    # ...while the same person elsewhere behind the same proxy signs in.
    assert attempt(app.test_client(), person.employee_number, via="172.16.9.9").status_code == 302
    window = timedelta(seconds=app.config["LOGIN_THROTTLE_WINDOW_SECONDS"])
    with time_machine.travel(now() + window + timedelta(seconds=1)):
        assert attempt(app.test_client(), person.employee_number, via=ATTACKER).status_code == 302


# --- the account: keyed on the person -------------------------------------------------------------------


def test_employee_number_and_email_are_one_account(app, person):
    """Before: the number and the e-mail were two accounts, each with its own five guesses."""
    attacker = app.test_client()
    for login in ("246810", "246810", "246810", "hanako.tanaka@pref.example.lg.jp",
                  " HANAKO.TANAKA@PREF.EXAMPLE.LG.JP "):
        assert INCORRECT in text(attempt(attacker, login, WRONG, via=ATTACKER))
    response = attempt(app.test_client(), "Hanako.Tanaka@pref.example.lg.jp")
    assert response.status_code == 401 and DELAYED in text(response)
    with app.app_context():
        keys = set(db_session.scalars(select(LoginThrottle.key).where(LoginThrottle.key.like("employee:%"))))
    assert keys == {f"employee:{person.id}"}


def test_full_width_digits_are_the_same_login(app, person):
    assert attempt(app.test_client(), "２４６８１０").status_code == 302


def test_five_wrong_guesses_slow_the_owner_but_never_lock_them_out(app, person):
    """Before: five wrong guesses by anyone locked the account against its owner for 15 minutes."""
    policy = ThrottlePolicy.from_config(app.config)
    start = now()
    with time_machine.travel(start, tick=False) as clock:
        attacker = app.test_client()
        for _ in range(policy.max_per_account):
            assert attempt(attacker, person.employee_number, WRONG, via=ATTACKER).status_code == 401
        owner = app.test_client()
        refused = attempt(owner, person.employee_number)
        assert refused.status_code == 401 and DELAYED in text(refused) and "30秒後" in text(refused)
        clock.shift(policy.delay_base + timedelta(seconds=1))  # the delay ends by itself
        assert attempt(owner, person.employee_number).status_code == 302


def test_the_delay_doubles_from_the_last_failure_and_is_capped(app, person):
    policy = ThrottlePolicy.from_config(app.config)
    assert delay_after(policy.max_per_account - 1, policy) is None
    assert delay_after(policy.max_per_account, policy) == policy.delay_base
    assert delay_after(policy.max_per_account + 1, policy) == policy.delay_base * 2
    assert delay_after(policy.max_per_account + 3, policy) == policy.delay_base * 8
    assert delay_after(10_000, policy) == policy.delay_max <= timedelta(minutes=15)
    with time_machine.travel(now(), tick=False) as clock:
        attacker = app.test_client()
        for _ in range(policy.max_per_account):
            attempt(attacker, person.employee_number, WRONG, via=ATTACKER)
        clock.shift(policy.delay_base + timedelta(seconds=1))
        assert INCORRECT in text(attempt(attacker, person.employee_number, WRONG))  # sixth failure: now 60 s
        clock.shift(policy.delay_base)  # 30 s later: refused, not counted, password not even checked
        assert DELAYED in text(attempt(attacker, person.employee_number, factories.PASSWORD))
        clock.shift(policy.delay_base + timedelta(seconds=1))
        assert attempt(attacker, person.employee_number).status_code == 302
    with app.app_context():  # a sign-in forgets the failures
        assert db_session.get(LoginThrottle, f"employee:{person.id}") is None


def test_failures_are_forgotten_after_a_quiet_day_and_after_a_new_password(app, person):
    policy = ThrottlePolicy.from_config(app.config)
    for _ in range(policy.max_per_account):
        attempt(app.test_client(), person.employee_number, WRONG, via=ATTACKER)
    assert attempt(app.test_client(), person.employee_number).status_code == 401
    with app.app_context():  # HR issues a temporary password (or the owner changes theirs)
        from app.auth.services import set_password

        set_password(db_session.get(Employee, person.id), "temporary-pass-123", temporary=True)
        db_session.commit()
    assert attempt(app.test_client(), person.employee_number, "temporary-pass-123").status_code == 302


def test_unknown_names_are_slowed_the_same_way_and_answered_the_same(app, person):
    policy = ThrottlePolicy.from_config(app.config)
    with time_machine.travel(now(), tick=False):
        answers = {}
        for login in (person.employee_number, "no-such-person"):
            client = app.test_client()
            for _ in range(policy.max_per_account):
                assert INCORRECT in text(attempt(client, login, WRONG, via=ATTACKER))
            response = attempt(client, login, WRONG, via=ATTACKER)
            answers[login] = (response.status_code, re.findall(r'<p class="flash[^"]*"[^>]*>([^<]+)<', text(response)))
    assert answers[person.employee_number] == answers["no-such-person"]
    assert answers["no-such-person"][0] == 401 and DELAYED in answers["no-such-person"][1][0]
    with app.app_context():
        assert db_session.get(LoginThrottle, "login:no-such-person").failures == policy.max_per_account


# --- the owner's way past the delay ------------------------------------------------------------------------


def test_the_browser_the_owner_signed_in_from_is_never_delayed_by_an_attacker(app, person):
    owner = app.test_client()
    assert attempt(owner, person.employee_number, via="172.16.8.20").status_code == 302
    factories.post(owner, "/logout")
    attacker = app.test_client()
    for _ in range(12):
        attempt(attacker, person.employee_number, WRONG, via=ATTACKER)
    assert DELAYED in text(attempt(app.test_client(), person.employee_number))  # any other browser waits
    assert attempt(owner, person.employee_number, via="172.16.8.20").status_code == 302


def test_the_owners_browser_cookie_does_not_let_anyone_guess_faster(app, person):
    policy = ThrottlePolicy.from_config(app.config)
    owner = app.test_client()
    assert attempt(owner, person.employee_number).status_code == 302
    factories.post(owner, "/logout")
    for _ in range(policy.max_per_account):  # someone at the owner's browser, guessing
        assert INCORRECT in text(attempt(owner, person.employee_number, WRONG))
    assert DELAYED in text(attempt(owner, person.employee_number))
    with app.app_context():  # counted against that browser only, not the account
        assert db_session.get(LoginThrottle, f"employee:{person.id}") is None


def test_a_forged_or_someone_elses_device_cookie_gives_nothing(app, person):
    with app.app_context():
        colleague = factories.employee()
    policy = ThrottlePolicy.from_config(app.config)
    browser = app.test_client()
    assert attempt(browser, colleague.employee_number).status_code == 302  # the colleague's browser
    factories.post(browser, "/logout")
    for _ in range(policy.max_per_account):
        attempt(app.test_client(), person.employee_number, WRONG, via=ATTACKER)
    assert DELAYED in text(attempt(browser, person.employee_number))
    forged = app.test_client()
    forged.set_cookie(app.config["LOGIN_DEVICE_COOKIE_NAME"], f'{{"e": {person.id}, "n": "x"}}', path="/login")
    assert DELAYED in text(attempt(forged, person.employee_number))


def test_the_owner_is_mailed_a_single_use_link_that_lifts_the_delay(app, person, behind_proxy):
    policy = ThrottlePolicy.from_config(app.config)
    attacker = app.test_client()
    for _ in range(policy.max_per_account + 3):
        attempt(attacker, person.employee_number, WRONG, via=ATTACKER)
    mails = unlock_mails(app, person)
    assert len(mails) == 1  # one link per episode, not one per failure
    url = mails[0].context["url"]
    assert url.startswith(app.config["BASE_URL"].rstrip("/") + "/account/unlock/")
    path = url[len(app.config["BASE_URL"].rstrip("/")):]

    owner = app.test_client()
    assert DELAYED in text(attempt(owner, person.employee_number, via="172.16.8.30"))
    page = owner.get(path)
    assert page.status_code == 200 and "解除する" in text(page)
    with app.app_context():  # opening the link (a mail scanner does) spends nothing
        assert db_session.scalars(select(LoginUnlock)).one().used_at is None
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(page)).group(1)  # type: ignore[union-attr]
    response = owner.post(path, data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert attempt(owner, person.employee_number, via="172.16.8.30").status_code == 302

    # Single use: the same link does nothing the second time, from anywhere.
    other = app.test_client()
    assert other.get(path).status_code == 404
    assert other.post(path, data={"csrf_token": factories.csrf_token(other)}).status_code == 404


def test_the_unlock_link_expires_and_unknown_names_get_no_mail(app, person):
    policy = ThrottlePolicy.from_config(app.config)
    for _ in range(policy.max_per_account):
        attempt(app.test_client(), person.employee_number, WRONG, via=ATTACKER)
        attempt(app.test_client(), "nobody-at-all", WRONG, via=ATTACKER)
    (mail,) = unlock_mails(app, person)
    with app.app_context():
        assert db_session.scalar(select(Notification).where(Notification.kind == "sign_in_unlock",
                                                            Notification.recipient_id != person.id)) is None
    path = "/account/unlock/" + mail.context["url"].rsplit("/", 1)[1]
    with time_machine.travel(now() + policy.unlock_lifetime + timedelta(seconds=1)):
        client = app.test_client()
        assert client.get(path).status_code == 404
        assert client.post(path, data={"csrf_token": factories.csrf_token(client)}).status_code == 404


def test_the_unlock_mail_is_urgent_and_in_the_owners_language(app, person):
    from app.reminders.facts import Facts
    from app.reminders.rendering import render

    for _ in range(5):
        attempt(app.test_client(), "246810", WRONG, via=ATTACKER)
    (mail,) = unlock_mails(app, person)
    assert mail.is_urgent
    with app.test_request_context():
        rendered = render(db_session.get(Notification, mail.id), Facts([db_session.get(Notification, mail.id)]))
    assert "ログインの待ち時間" in rendered.subject
    assert mail.context["url"] in rendered.body and "1回限り" in rendered.body
