"""Shared set-up for the cohort programme tests: two departments (each headed by a manager, each
with a division of staff), an HR user, and helpers to apply, decide and sign in.

Objects built here are detached once the app context ends; tests keep ids (and names/numbers for
signing in) and load rows again in their own context."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.cohorts import services
from app.cohorts.models import Application, Cohort, Decision, Endorsement
from app.core.db import db_session
from app.org.models import Employee, RoleName
from tests import factories

THEME = "smart_government"


@dataclass
class Org:
    hr: Employee
    dept_a: int
    dept_b: int
    division_a: int
    division_b: int
    manager_a: Employee
    manager_b: Employee
    staff_a: list[Employee]
    staff_b: list[Employee]


@pytest.fixture
def org(app: Flask) -> Org:
    with app.app_context():
        dept_a, dept_b = factories.unit("デジタル推進部"), factories.unit("県土整備部")
        division_a = factories.unit("デジタル政策課", parent=dept_a)
        division_b = factories.unit("道路課", parent=dept_b)
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,), name="人事 担当")
        manager_a = factories.employee(dept_a, "BUCHO", heads=dept_a, name="部長 甲")
        manager_b = factories.employee(dept_b, "BUCHO", heads=dept_b, name="部長 乙")
        staff_a = [factories.employee(division_a, "SHUNIN", name=f"甲 職員{i}") for i in range(4)]
        staff_b = [factories.employee(division_b, "SHUSA", name=f"乙 職員{i}") for i in range(4)]
        return Org(hr, dept_a.id, dept_b.id, division_a.id, division_b.id, manager_a, manager_b, staff_a, staff_b)


def signed_in(app: Flask, person: Employee) -> FlaskClient:
    client = app.test_client()
    factories.login_as(client, person)
    return client


def person(employee_id: int) -> Employee:
    found = db_session.get(Employee, employee_id)
    assert found is not None
    return found


def apply_for(cohort_id: int, employee_id: int, *, endorse: bool = True, theme: str = THEME) -> int:
    """Apply (and, when the cohort needs it, have the manager endorse); commits; returns the id."""
    cohort = db_session.get(Cohort, cohort_id)
    applicant = person(employee_id)
    application = services.apply(applicant, cohort, f"{applicant.name}の志望動機", theme, ["業務の課題"])
    if endorse and application.endorsement != Endorsement.ENDORSED:
        from app.org.queries import manager_of

        services.endorse(manager_of(applicant), application, True, "推薦します")
    db_session.commit()
    return application.id


def decide(actor_id: int, application_id: int, decision: Decision) -> None:
    services.decide(person(actor_id), db_session.get(Application, application_id), decision)
    db_session.commit()


def application(application_id: int) -> Application:
    db_session.expire_all()
    found = db_session.get(Application, application_id)
    assert found is not None
    return found


def selected_count(cohort_id: int) -> int:
    return db_session.scalar(select(Cohort.selected_count).where(Cohort.id == cohort_id).execution_options(
        populate_existing=True))
