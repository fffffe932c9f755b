"""Server-side sessions (issue 14, finding 4): sign-out, a password change, deactivation and an
administrator's "sign out everywhere" end every session at once, including copies of the cookie;
each person sees and ends their own sessions; reading pages never writes."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import UserSession
from app.auth.sessions import summarise_user_agent
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, RoleName
from tests import factories

MY_LEARNING = "/my-learning"
NEW_PASSWORD = "a-much-better-passphrase"


@pytest.fixture
def person(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee(email="jiro.suzuki@pref.example.lg.jp", number="654321")


def signed_in(app, person: Employee, user_agent: str = "") -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    factories.login_as(client, person)
    return client


def copy_of(app, client: FlaskClient) -> FlaskClient:  # type: ignore[no-untyped-def]
    """Another browser holding a copy of `client`'s session cookie (as an attacker would)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def opens_my_learning(client: FlaskClient) -> bool:
    response = client.get(MY_LEARNING)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return False
    assert response.status_code == 200
    return True


def rows_of(app, person: Employee) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    with app.app_context():
        return [tuple(r) for r in db_session.execute(
            select(UserSession.id, UserSession.created_at, UserSession.last_seen_at, UserSession.revoked_at,
                   UserSession.revoked_reason).where(UserSession.employee_id == person.id)
            .order_by(UserSession.id)).all()]


# --- sign-out ------------------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app, person):
    browser = signed_in(app, person)
    copy = copy_of(app, browser)
    assert opens_my_learning(copy)  # the copy works while the session lasts
    copy.get("/catalog/")  # and leaves a cached page keyed by the copied session

    assert factories.post(browser, "/logout").status_code == 302

    assert not opens_my_learning(copy)
    response = copy.get("/catalog/")  # a cached page is not served to it either
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not opens_my_learning(browser)
    assert [row[4] for row in rows_of(app, person)] == ["signed_out"]


def test_signing_out_in_one_browser_leaves_the_others_signed_in(app, person):
    office, home = signed_in(app, person), signed_in(app, person)
    factories.post(office, "/logout")
    assert not opens_my_learning(office)
    assert opens_my_learning(home)


def test_a_session_cookie_from_before_server_side_sessions_opens_nothing(app, person):
    old = app.test_client()
    with old.session_transaction() as cookie:  # what a signed cookie held before this change
        cookie["_user_id"] = str(person.id)
        cookie["_fresh"] = True
    assert not opens_my_learning(old)


def test_a_session_ends_after_its_maximum_age(app, person, monkeypatch):
    # (Flask's signed cookie itself is refused 8 hours after it was last written, the
    # PERMANENT_SESSION_LIFETIME; the row's age is the server's own limit, whatever the cookie says.)
    monkeypatch.setitem(app.config, "SESSION_MAX_AGE_SECONDS", 2 * 3600)
    browser = signed_in(app, person)
    age = timedelta(hours=2)
    with time_machine.travel(now() + age - timedelta(minutes=1)):
        assert opens_my_learning(browser)
    with time_machine.travel(now() + age + timedelta(seconds=1)):
        assert not opens_my_learning(browser)
        assert browser.get("/catalog/").status_code == 302  # nor from the page cache


def test_signing_in_again_starts_a_new_session_and_clears_old_rows(app, person):
    browser = signed_in(app, person)
    factories.post(browser, "/logout")
    first = rows_of(app, person)
    factories.login_as(browser, person)
    second = rows_of(app, person)
    assert len(first) == 1 and first[0][3] is not None
    assert len(second) == 1 and second[0][3] is None  # the revoked row went; the new one is active


# --- password change ----------------------------------------------------------------------------------


def change_password(client: FlaskClient, current: str = factories.PASSWORD, new: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    token = factories.csrf_token(client, "/account/password")
    return client.post("/account/password", data={"csrf_token": token, "current_password": current,
                                                  "new_password": new, "confirm": new})


def test_a_password_change_ends_every_other_session(app, person):
    here, elsewhere = signed_in(app, person), signed_in(app, person)
    copy = copy_of(app, elsewhere)
    assert opens_my_learning(elsewhere) and opens_my_learning(copy)

    assert change_password(here).status_code == 302

    assert opens_my_learning(here)  # where the password was changed stays signed in
    assert not opens_my_learning(elsewhere)
    assert not opens_my_learning(copy)
    reasons = sorted(str(row[4]) for row in rows_of(app, person))
    assert reasons == ["None", "password_changed"]


def test_a_failed_password_change_ends_nothing(app, person):
    here, elsewhere = signed_in(app, person), signed_in(app, person)
    assert change_password(here, current="wrong-current-password").status_code == 400
    assert opens_my_learning(elsewhere)


def test_changing_a_temporary_password_ends_the_sessions_opened_with_it(app):
    with app.app_context():
        newcomer = factories.employee(must_change=True)
    first, second = signed_in(app, newcomer), signed_in(app, newcomer)
    assert change_password(first, new="my-own-passphrase-9").status_code == 302
    assert first.get("/").status_code == 200
    assert second.get("/").headers["Location"].startswith("/login")


# --- deactivation ----------------------------------------------------------------------------------


def staff_file(people: list[Employee]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["employee_number", "name", "name_kana", "email", "grade", "unit", "is_head"])
    for p in people:
        writer.writerow([p.employee_number, p.name, p.name_kana, p.email, p.grade.code, p.unit.code, ""])
    return buffer.getvalue().encode()


def import_staff_list(app, *, leaving: Employee | None = None, returning: Employee | None = None) -> None:  # type: ignore[no-untyped-def]
    """Apply an HR staff file listing everyone active (minus `leaving`, plus `returning`)."""
    from app.org.services import import_staff

    with app.test_request_context():
        listed = [e for e in db_session.scalars(select(Employee).where(Employee.is_active.is_(True)))
                  if leaving is None or e.id != leaving.id]
        if returning is not None:
            listed.append(db_session.get(Employee, returning.id))
        report = import_staff(staff_file(listed), None, as_of=now().date(), dry_run=False)
        assert report.applied, report.issues
        db_session.commit()


def test_deactivation_by_the_staff_import_ends_every_session(app, person):
    with app.app_context():
        colleague = factories.employee()  # stays: a file listing nobody is refused
    stays = signed_in(app, colleague)
    browser, phone = signed_in(app, person), signed_in(app, person)
    copy = copy_of(app, browser)

    import_staff_list(app, leaving=person)

    for client in (browser, phone, copy):
        assert not opens_my_learning(client)
    assert {row[4] for row in rows_of(app, person)} == {"deactivated"}
    assert opens_my_learning(stays)
    # Coming back in a later import does not bring the old sessions back.
    import_staff_list(app, returning=person)
    with app.app_context():
        assert db_session.get(Employee, person.id).is_active
    assert not opens_my_learning(copy)
    factories.login_as(app.test_client(), person)  # a fresh sign-in works


# --- an administrator's "sign out everywhere" ----------------------------------------------------------


def test_an_administrator_signs_someone_out_everywhere(app, person):
    with app.app_context():
        admin = factories.employee(roles=(RoleName.ADMIN,))
    browser, phone = signed_in(app, person, "Mozilla/5.0 (Windows NT 10.0) Chrome/130.0 Safari/537.36"), \
        signed_in(app, person)
    copy = copy_of(app, phone)
    console = signed_in(app, admin)

    page = console.get(f"/admin/staff/{person.id}/sessions").get_data(as_text=True)
    assert "Chrome / Windows" in page and page.count('id="session-') == 2
    assert "すべての場所からログアウトさせる" in console.get(f"/org/staff/{person.id}").get_data(as_text=True)

    response = factories.post(console, f"/admin/staff/{person.id}/sessions/end")
    assert response.status_code == 302

    for client in (browser, phone, copy):
        assert not opens_my_learning(client)
    assert opens_my_learning(console)
    with app.app_context():
        event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.sessions_ended"))
        assert event is not None and event.target_id == str(person.id) and event.actor_id == admin.id
    factories.login_as(app.test_client(), person)  # the password still works


@pytest.mark.parametrize("role", [None, RoleName.HR, RoleName.INSTRUCTOR])
def test_only_administrators_sign_others_out_everywhere(app, person, role):
    with app.app_context():
        actor = factories.employee(roles=(role,) if role else ())
    victim_browser = signed_in(app, person)
    client = signed_in(app, actor)
    assert client.get(f"/admin/staff/{person.id}/sessions").status_code == 403
    assert factories.post(client, f"/admin/staff/{person.id}/sessions/end").status_code == 403
    assert opens_my_learning(victim_browser)
    assert "すべての場所からログアウトさせる" not in client.get(f"/org/staff/{person.id}").get_data(as_text=True)


# --- one's own sessions ------------------------------------------------------------------------------


def test_the_sessions_page_lists_ones_own_active_sessions(app, person):
    with app.app_context():
        colleague = factories.employee()
    office = signed_in(app, person, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 "
                                    "Safari/537.36 Edg/130.0")
    signed_in(app, person, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
                           "Version/18.0 Mobile/15E148 Safari/604.1")
    ended = signed_in(app, person, "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0")
    factories.post(ended, "/logout")
    signed_in(app, colleague, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Firefox/131.0")

    response = office.get("/account/sessions")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ログイン中のブラウザー" in html  # Japanese first
    assert "Edge / Windows" in html and "Safari / iPhone" in html
    assert "Firefox" not in html  # neither the signed-out session nor a colleague's
    assert html.count('id="session-') == 2 and html.count("このブラウザー</span>") == 1
    assert "127.0.0.1" in html


def test_ending_one_of_ones_sessions_and_all_the_others(app, person):
    office, home, phone = signed_in(app, person), signed_in(app, person), signed_in(app, person)
    rows = rows_of(app, person)
    home_id = rows[1][0]

    assert factories.post(office, f"/account/sessions/{home_id}/end").status_code == 302
    assert not opens_my_learning(home) and opens_my_learning(phone) and opens_my_learning(office)

    assert factories.post(office, "/account/sessions/end-others").status_code == 302
    assert not opens_my_learning(phone) and opens_my_learning(office)
    assert office.get("/account/sessions").get_data(as_text=True).count('id="session-') == 1

    current_id = rows[0][0]
    response = factories.post(office, f"/account/sessions/{current_id}/end")
    assert response.headers["Location"] == "/login"  # ending this browser's own session signs out
    assert not opens_my_learning(office)


def test_ending_a_session_needs_a_post_with_a_csrf_token(app, person):
    office, home = signed_in(app, person), signed_in(app, person)
    home_id = rows_of(app, person)[1][0]
    assert office.get(f"/account/sessions/{home_id}/end").status_code == 405
    assert office.post(f"/account/sessions/{home_id}/end").status_code == 400
    assert office.post("/account/sessions/end-others", data={"csrf_token": "forged"}).status_code == 400
    assert opens_my_learning(home)


def test_someone_elses_session_cannot_be_ended_or_even_named(app, person):
    with app.app_context():
        colleague = factories.employee()
    theirs = signed_in(app, colleague)
    their_id = rows_of(app, colleague)[0][0]
    mine = signed_in(app, person)
    assert factories.post(mine, f"/account/sessions/{their_id}/end").status_code == 404
    assert opens_my_learning(theirs)


# --- reading writes nothing ---------------------------------------------------------------------------


def test_pages_read_without_writing_the_session_row(app, person):
    browser = signed_in(app, person)
    before = rows_of(app, person)
    with time_machine.travel(now() + timedelta(minutes=10)):
        for path in (MY_LEARNING, "/account/sessions", "/catalog/", "/account/password", "/"):
            assert browser.get(path).status_code == 200, path
        assert rows_of(app, person) == before
        # A request that writes anyway notes the activity (at most once a minute).
        assert factories.post(browser, "/notifications/read-all").status_code == 302
        after = rows_of(app, person)
    assert after[0][2] > before[0][2]


def test_user_agents_are_summarised_not_stored():
    assert summarise_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                "Chrome/130.0.0.0 Safari/537.36") == "Chrome / Windows"
    assert summarise_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like "
                                "Gecko) Version/17.0 Safari/605.1.15") == "Safari / macOS"
    assert summarise_user_agent("curl/8.5.0") == "curl/8.5.0"
    assert summarise_user_agent("\x00<script>" + "x" * 100) == "<script>" + "x" * 32
    assert summarise_user_agent(None) == ""
