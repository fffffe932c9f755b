"""Issue 16 ("fast for an enrolment morning"): a signed-in request reads the person, their session
row and everything the layout needs about them (granted roles, the units they head, the unread
count) in ONE statement (app/auth/login.py); app/permissions.py then judges the signed-in person
without reading a row. Nothing is kept across requests: a revoked role, headship or session
shows on the very next request.

Before this change the home page took 3 statements for every role (the person with their roles
and session row; the units they head; the unread count); now it takes 1.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.auth.sessions import ENDED_BY_ADMINISTRATOR, revoke_all
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit
from app.org.services import grant_role, revoke_role, set_unit_head
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.queries import unread_count
from tests import factories
from tests.querycount import count_statements

HOME = "/"
MY_LEARNING = "/my-learning"
STAFF = "/org/staff"  # org:employee:read (HR)
TEAM = "/team"  # reports:team:read (whoever heads a unit)

# The layout's reads about the person: 1 (was 3: person + roles + session row; headed units; unread
# count). The home page adds its panels' reads about things to do (issue 18, tests/home): the
# employee's 9, a manager's 3, HR's 5, none of them about the signed-in person.
HOME_STATEMENTS = 1 + 9 + 3 + 5
# The page's own seven reads (e-learning begun; issue 18: cohort milestones and check-ins open now,
# while assignments answered this cycle became one read instead of two), plus the one about the person.
MY_LEARNING_STATEMENTS = 8

# What only the sign-in statement may read: the session row, role grants, headship, the inbox.
ABOUT_THE_USER = ("user_sessions", "role_grants", "units.head_id =", "notifications")


@dataclass(frozen=True)
class People:
    department: Unit
    division: Unit
    employee: Employee
    manager: Employee  # heads the department and the division
    hr: Employee


@pytest.fixture
def people(app: Flask) -> People:
    with app.app_context():
        department = factories.unit()
        division = factories.unit(parent=department)
        employee = factories.employee(division)
        manager = factories.employee(department, "KACHO", heads=department)
        division.head_id = manager.id
        hr = factories.employee(department, roles=(RoleName.HR,))
        db_session.commit()
        return People(department, division, employee, manager, hr)


def signed_in(app: Flask, person: Employee) -> FlaskClient:
    client = app.test_client()
    factories.login_as(client, person)
    assert client.get(HOME).status_code == 200  # the redirect's flash is shown and gone
    return client


def statements_of(app: Flask, client: FlaskClient, path: str) -> list[str]:
    with count_statements(app) as counter:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return counter.statements


def about_the_user(statements: list[str]) -> list[str]:
    return [s for s in statements if any(name in s for name in ABOUT_THE_USER)]


@pytest.mark.parametrize("who", ["employee", "manager", "hr"])
def test_the_home_page_reads_the_person_in_one_statement(app: Flask, people: People, who: str) -> None:
    client = signed_in(app, getattr(people, who))
    statements = statements_of(app, client, HOME)
    assert len(statements) <= HOME_STATEMENTS, statements
    (loader,) = [s for s in statements if all(name in s for name in ABOUT_THE_USER)]
    # The panels read nothing more about the person (HR's outbox count reads notifications, not theirs).
    assert not [s for s in statements if s != loader and any(name in s for name in ABOUT_THE_USER[:3])], statements


@pytest.mark.parametrize("who", ["employee", "manager", "hr"])
def test_my_learning_reads_the_person_once(app: Flask, people: People, who: str) -> None:
    client = signed_in(app, getattr(people, who))
    statements = statements_of(app, client, MY_LEARNING)
    assert len(about_the_user(statements)) == 1, about_the_user(statements)
    assert len(statements) <= MY_LEARNING_STATEMENTS, statements


def test_the_layout_shows_what_each_role_may_open(app: Flask, people: People) -> None:
    pages = {who: signed_in(app, getattr(people, who)).get(HOME).get_data(as_text=True)
             for who in ("employee", "manager", "hr")}
    assert f'href="{TEAM}"' in pages["manager"] and f'href="{STAFF}"' not in pages["manager"]
    # HR follows any unit's team page (issue 17) besides the staff register.
    assert f'href="{STAFF}"' in pages["hr"] and f'href="{TEAM}"' in pages["hr"]
    assert f'href="{TEAM}"' not in pages["employee"] and f'href="{STAFF}"' not in pages["employee"]


def _notification(recipient: Employee, status: DeliveryStatus, *, read: bool) -> Notification:
    current = now()
    return Notification(recipient_id=recipient.id, kind="test", dedupe_key=f"test:{status}:{read}:{recipient.id}",
                        status=status, due_at=current - timedelta(hours=1), next_attempt_at=current,
                        read_at=current if read else None, created_at=current)


def test_the_unread_count_read_with_the_person_is_the_inbox_count(app: Flask, people: People) -> None:
    with app.app_context():
        db_session.add_all([_notification(people.employee, status, read=read)
                            for status in DeliveryStatus for read in (False, True)])
        db_session.commit()
        expected = unread_count(people.employee.id)
    assert expected == 3  # sent, failed and sending, unread
    page = signed_in(app, people.employee).get(HOME).get_data(as_text=True)
    shown = re.search(r'class="nav-count"[^>]*>(\d+)<', page)
    assert shown is not None and int(shown.group(1)) == expected, page


def test_a_revoked_role_shows_on_the_next_request(app: Flask, people: People) -> None:
    client = signed_in(app, people.hr)
    assert client.get(STAFF).status_code == 200
    with app.app_context():
        revoke_role(None, db_session.get_one(Employee, people.hr.id), RoleName.HR)
        db_session.commit()
    assert client.get(STAFF).status_code == 403
    assert f'href="{STAFF}"' not in client.get(HOME).get_data(as_text=True)


def test_a_granted_role_shows_on_the_next_request(app: Flask, people: People) -> None:
    client = signed_in(app, people.employee)
    assert client.get(STAFF).status_code == 403
    with app.app_context():
        grant_role(None, db_session.get_one(Employee, people.employee.id), RoleName.HR)
        db_session.commit()
    assert client.get(STAFF).status_code == 200


def test_a_lost_headship_shows_on_the_next_request(app: Flask, people: People) -> None:
    client = signed_in(app, people.manager)
    assert client.get(TEAM).status_code == 200
    with app.app_context():
        for unit in (people.department, people.division):
            set_unit_head(None, db_session.get_one(Unit, unit.id), None)
        db_session.commit()
    assert client.get(TEAM).status_code == 403
    assert f'href="{TEAM}"' not in client.get(HOME).get_data(as_text=True)


def test_a_revoked_session_shows_on_the_next_request(app: Flask, people: People) -> None:
    client = signed_in(app, people.employee)
    assert client.get(MY_LEARNING).status_code == 200
    with app.app_context():
        revoke_all(people.employee.id, ENDED_BY_ADMINISTRATOR)
        db_session.commit()
    response = client.get(MY_LEARNING)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
