"""Roles and accounts (issue 14, finding 1): HR could issue the administrator a temporary password,
sign in as the administrator and grant itself the admin role. Role grants belong to administrators;
a temporary password is shown only to someone of strictly higher privilege than its owner."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import Credential
from app.auth.passwords import verify_password
from app.auth.services import issue_temporary_password
from app.core.db import db_session
from app.org.models import Employee, RoleName
from app.org.services import grant_role, revoke_role
from app.permissions import PermissionDenied
from tests import factories
from tests.confirming import press_confirm

_SHOWN = re.compile(r'id="temporary-password"><code>([^<]+)</code>')


@pytest.fixture
def staff(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return {
            "employee": factories.employee(),
            "hr": factories.employee(roles=(RoleName.HR,)),
            "hr2": factories.employee(roles=(RoleName.HR,)),
            "admin": factories.employee(roles=(RoleName.ADMIN,)),
            "admin2": factories.employee(roles=(RoleName.ADMIN,)),
        }


def _events(app, target: Employee, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(db_session.scalars(select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.target_id == str(target.id))))


def _roles(app, person: Employee) -> set[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        employee = db_session.get(Employee, person.id)
        assert employee is not None
        db_session.refresh(employee)
        return {role.value for role in employee.roles}


def _password_unchanged(app, person: Employee) -> bool:  # type: ignore[no-untyped-def]
    with app.app_context():
        credential = db_session.get(Credential, person.id)
        assert credential is not None
        db_session.refresh(credential)
        return verify_password(credential.password_hash, factories.PASSWORD) and not credential.must_change


def _issue(client, target: Employee):  # type: ignore[no-untyped-def]
    return factories.post(client, f"/org/staff/{target.id}/temporary-password", {"confirm": "y"})


def _set_roles(client, target: Employee, roles: set[str]):  # type: ignore[no-untyped-def]
    """Press 役割を保存, then confirm on the preview (a refusal answers the first press itself)."""
    response = factories.post(client, f"/org/staff/{target.id}/roles", {"roles": sorted(roles)})
    return press_confirm(client, response) if response.status_code == 200 else response


# --- the attack, step by step --------------------------------------------------------------------


def test_hr_cannot_take_over_the_administrator(app, client, staff):
    hr, admin = staff["hr"], staff["admin"]
    factories.login_as(client, hr)
    # 1. The administrator's page offers HR no temporary password …
    page = client.get(f"/org/staff/{admin.id}").get_data(as_text=True)
    assert f"/org/staff/{admin.id}/temporary-password" not in page
    # … and posting the form anyway is refused, with nothing shown, changed or recorded.
    response = _issue(client, admin)
    assert response.status_code == 403
    assert not _SHOWN.search(response.get_data(as_text=True))
    assert _password_unchanged(app, admin)
    assert _events(app, admin, "auth.temporary_password_issued") == []
    # 2. HR cannot grant itself the admin role.
    assert _set_roles(client, hr, {"hr", "admin"}).status_code == 403
    assert _roles(app, hr) == {"hr"}
    # 3. Nor grant any role to anyone.
    employee = staff["employee"]
    assert _set_roles(client, employee, {"instructor"}).status_code == 403
    assert _roles(app, employee) == set()
    assert _events(app, hr, "auth.role_granted") == [] and _events(app, employee, "auth.role_granted") == []


def test_hr_cannot_reset_a_colleague_or_itself(app, client, staff):
    factories.login_as(client, staff["hr"])
    for target in (staff["hr2"], staff["hr"]):
        assert _issue(client, target).status_code == 403
        assert _password_unchanged(app, target)


def test_hr_still_resets_an_ordinary_employees_password(app, client, staff):
    employee = staff["employee"]
    factories.login_as(client, staff["hr"])
    page = client.get(f"/org/staff/{employee.id}").get_data(as_text=True)
    assert f"/org/staff/{employee.id}/temporary-password" in page
    response = _issue(client, employee)
    assert response.status_code == 200
    temporary = _SHOWN.search(response.get_data(as_text=True))
    assert temporary
    assert not _password_unchanged(app, employee)
    (event,) = _events(app, employee, "auth.temporary_password_issued")
    assert event.actor_id == staff["hr"].id
    factories.post(client, "/logout")
    assert factories.login(client, employee.employee_number, temporary.group(1)).status_code == 302


def test_admin_grants_and_removes_roles_and_the_audit_trail_says_so(app, client, staff):
    employee, admin = staff["employee"], staff["admin"]
    factories.login_as(client, admin)
    assert _set_roles(client, employee, {"hr", "instructor"}).status_code == 302
    assert _roles(app, employee) == {"hr", "instructor"}
    assert {e.actor_id for e in _events(app, employee, "auth.role_granted")} == {admin.id}
    assert _set_roles(client, employee, {"instructor"}).status_code == 302
    assert _roles(app, employee) == {"instructor"}
    (removal,) = _events(app, employee, "auth.role_revoked")
    assert removal.actor_id == admin.id and removal.after == {"roles": ["instructor"]}
    # Another administrator's admin role too (the acting administrator stays one).
    assert _set_roles(client, staff["admin2"], set()).status_code == 302
    assert _roles(app, staff["admin2"]) == set()


def test_an_administrator_does_not_change_their_own_roles(app, client, staff):
    admin = staff["admin"]
    factories.login_as(client, admin)
    page = client.get(f"/org/staff/{admin.id}").get_data(as_text=True)
    assert f"/org/staff/{admin.id}/roles" not in page
    assert _set_roles(client, admin, {"admin", "hr"}).status_code == 403
    assert _set_roles(client, admin, set()).status_code == 403
    assert _roles(app, admin) == {"admin"}


def test_admin_resets_hr_but_never_sees_another_administrators_password(app, client, staff):
    factories.login_as(client, staff["admin"])
    response = _issue(client, staff["hr"])
    assert response.status_code == 200 and _SHOWN.search(response.get_data(as_text=True))
    page = client.get(f"/org/staff/{staff['admin2'].id}").get_data(as_text=True)
    assert f"/org/staff/{staff['admin2'].id}/temporary-password" not in page
    response = _issue(client, staff["admin2"])
    assert response.status_code == 403 and not _SHOWN.search(response.get_data(as_text=True))
    assert _password_unchanged(app, staff["admin2"])


# --- the services refuse on their own (CLI, API, jobs call them without a view) ---------------


def test_services_refuse_with_a_translated_reason(app, staff):
    with app.app_context():
        hr = db_session.get(Employee, staff["hr"].id)
        admin = db_session.get(Employee, staff["admin"].id)
        employee = db_session.get(Employee, staff["employee"].id)
        assert hr is not None and admin is not None and employee is not None
        with pytest.raises(PermissionDenied, match="管理者"):
            issue_temporary_password(hr, admin)
        with pytest.raises(PermissionDenied):
            grant_role(hr, hr, RoleName.ADMIN)
        with pytest.raises(PermissionDenied):
            grant_role(hr, employee, RoleName.INSTRUCTOR)
        with pytest.raises(PermissionDenied):
            revoke_role(admin, admin, RoleName.ADMIN)
        with pytest.raises(PermissionDenied):
            grant_role(admin, admin, RoleName.HR)
        db_session.rollback()
    assert _password_unchanged(app, staff["admin"])
    assert _roles(app, staff["hr"]) == {"hr"} and _roles(app, staff["admin"]) == {"admin"}


def test_system_grants_without_an_actor_still_work(app, staff):
    """The demo loader and CLI commands act as the system (actor None)."""
    with app.app_context():
        employee = db_session.get(Employee, staff["employee"].id)
        assert employee is not None
        grant_role(None, employee, RoleName.INSTRUCTOR)
        db_session.commit()
    assert _roles(app, staff["employee"]) == {"instructor"}


def test_a_temporary_password_ends_every_browser_signed_in_with_the_old_one(app, staff):  # type: ignore[no-untyped-def]
    employee = staff["employee"]
    browser = app.test_client()
    factories.login_as(browser, employee)
    assert browser.get("/my-learning").status_code == 200
    hr = app.test_client()
    factories.login_as(hr, staff["hr"])
    assert _issue(hr, employee).status_code == 200
    assert browser.get("/my-learning").status_code == 302  # signed out: back to the sign-in page
