"""Two HR users selecting at the same moment can never exceed the quota or a department's cap
(ARCHITECTURE.md rules 3 and 4), through the real web stack, on SQLite and PostgreSQL.

Like tests/enrollment/test_race.py, this runs on a freshly migrated database of its own with
real commits, served by werkzeug's threaded server on 127.0.0.1 (not the `app` fixture and its
rolled-back transaction: racing requests must see each other's commits). The connections are
opened beforehand and the requests released together by a barrier.
"""
from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.cohorts.models import Application, Cohort, Decision, DepartmentCap
from app.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.cohorts.conftest import apply_for
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, Response, release_together, serve_in_thread



@dataclass
class Race:
    cohort_id: int
    quota: int
    caps: dict[int, int]  # department id -> cap
    applications: list[int]  # endorsed, undecided


@dataclass
class Site:
    port: int
    app: Flask
    hr_logins: list[str]
    quota_race: Race  # the quota binds: caps leave room for more than the quota
    cap_race: Race  # the caps bind: their sum is below the quota
    errors: list[BaseException] = field(default_factory=list)


def _race(quota: int, departments: list, caps: dict, per_department: int) -> Race:  # type: ignore[type-arg]
    cohort = factories.cohort(quota=quota, caps=caps)
    applications = []
    for department, division in departments:
        for _ in range(per_department):
            applicant = factories.employee(division, "SHUNIN")
            applications.append(apply_for(cohort.id, applicant.id))  # endorsed by the department's head
    # interleave the departments, so each department's requests are spread over both HR users
    applications = [applications[i] for k in range(per_department)
                    for i in range(k, len(applications), per_department)]
    return Race(cohort.id, quota, {unit.id: cap for unit, cap in caps.items()}, applications)


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("cohort-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        departments = []
        for name in ("総務部", "健康福祉部", "県土整備部"):
            department = factories.unit(name)
            factories.employee(department, "BUCHO", heads=department)
            departments.append((department, factories.unit(f"{name}企画課", parent=department)))
        human_resources = factories.unit("人事課")
        hr_logins = [factories.employee(human_resources, "SHUSA", roles=(RoleName.HR,)).employee_number
                     for _ in range(2)]
        (a, _), (b, _), (c, _) = departments
        quota_race = _race(10, departments, {a: 3, b: 4}, per_department=14)
        cap_race = _race(20, departments, {a: 3, b: 4, c: 5}, per_department=14)

    with serve_in_thread(application, "cohort-live-server") as (port, errors):
        yield Site(port, application, hr_logins, quota_race, cap_race, errors)


def _select_all_at_once(site: Site, race: Race) -> list[Response | BaseException]:
    """Both HR users post "select" for every application of the race, released by one barrier."""
    path = f"/cohorts/{race.cohort_id}/selection"
    browsers = [HttpClient("127.0.0.1", site.port).sign_in(login) for login in site.hr_logins]
    tokens = [browser.csrf_token(path) for browser in browsers]
    jobs = [(browsers[i % 2], tokens[i % 2], application_id) for i, application_id in enumerate(race.applications)]
    connections: list[http.client.HTTPConnection] = []
    try:
        for browser, _token, _id in jobs:
            connections.append(browser.connect())
    except BaseException:
        for connection in connections:
            connection.close()
        raise
    return release_together(
        [lambda connection, job=job: job[0].request(
            "POST", path, {"csrf_token": job[1], "action": "selected", "application_id": str(job[2])}, connection)
         for job in jobs], connections)


def _check(site: Site, race: Race, results: list[Response | BaseException]) -> dict[int, int]:
    failures = [r if isinstance(r, BaseException) else (r.status, r.text[:300])
                for r in results if isinstance(r, BaseException) or r.status != 302]
    assert not failures, failures[:5]
    assert not site.errors, site.errors[:5]
    with site.app.app_context():
        cohort = db_session.get(Cohort, race.cohort_id)
        rows = list(db_session.scalars(select(Application).where(Application.cohort_id == race.cohort_id)))
        selected = [a for a in rows if a.decision == Decision.SELECTED]
        assert {a.decision for a in rows} <= {Decision.SELECTED, Decision.UNDECIDED}
        by_department: dict[int, int] = {}
        for row in selected:
            by_department[row.department_id] = by_department.get(row.department_id, 0) + 1
        caps = {c.unit_id: c for c in db_session.scalars(select(DepartmentCap).where(
            DepartmentCap.cohort_id == race.cohort_id))}
        for unit_id, cap in race.caps.items():
            assert by_department.get(unit_id, 0) <= cap
            assert caps[unit_id].selected_count == by_department.get(unit_id, 0)
        assert cohort.selected_count == len(selected)
        assert db_session.scalar(select(func.count()).select_from(Application).where(
            Application.cohort_id == race.cohort_id, Application.decision == Decision.SELECTED)) == len(selected)
        return by_department


def test_two_hr_users_selecting_at_once_fill_the_quota_exactly(site: Site) -> None:
    race = site.quota_race
    by_department = _check(site, race, _select_all_at_once(site, race))
    assert sum(by_department.values()) == race.quota
    with site.app.app_context():
        assert db_session.get(Cohort, race.cohort_id).selected_count == race.quota


def test_two_hr_users_selecting_at_once_never_exceed_a_department_cap(site: Site) -> None:
    race = site.cap_race
    by_department = _check(site, race, _select_all_at_once(site, race))
    assert by_department == race.caps  # every cap filled exactly, none exceeded
    with site.app.app_context():
        assert db_session.get(Cohort, race.cohort_id).selected_count == sum(race.caps.values()) < race.quota
