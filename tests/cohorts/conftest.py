"""Shared set-up for the cohort programme tests: two departments (each headed by a manager, each
with a division of staff), an HR user, and helpers to apply, decide and sign in; a programme of
selected participants with teams and mentors (`programme`, `teams`), and helpers to submit work.

Objects built here are detached once the app context ends; tests keep ids (and names/numbers for
signing in) and load rows again in their own context."""
from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from app.cohorts import queries, services
from app.cohorts.models import Application, Cohort, Decision, Endorsement, MilestoneKind, Submission
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit
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


# --- a programme with teams, and submitting work -------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
_FLASH = re.compile(r'<p class="flash flash--(\w+)"[^>]*>(.*?)</p>', re.S)


def flashes(page: str) -> list[tuple[str, str]]:
    return [(category, html.unescape(text).strip()) for category, text in _FLASH.findall(page)]


@dataclass
class Programme:
    cohort_id: int
    host_code: str  # a host division's unit code
    host_id: int
    participants: list[Employee]  # selected: 甲0, 甲1, 乙0, 乙1
    not_selected: Employee
    mentors: list[Employee]
    milestones: dict[MilestoneKind, int]
    module_course_id: int


@pytest.fixture
def programme(app: Flask, org: Org) -> Programme:
    with app.app_context():
        cohort = factories.cohort(quota=6, requires_endorsement=False)
        participants = [*org.staff_a[:2], *org.staff_b[:2]]
        for participant in participants:
            decide(org.hr.id, apply_for(cohort.id, participant.id), Decision.SELECTED)
        apply_for(cohort.id, org.staff_a[2].id)  # applied, not selected
        host = db_session.get(Unit, org.division_b)
        mentors = [factories.employee(factories.unit("外部メンター"), "KACHO", roles=(RoleName.MENTOR,),
                                      name=f"指導 先生{i}", number=f"EXT{i:04d}") for i in range(3)]
        stones = {m.kind: m.id for m in queries.milestones(cohort.id)}
        module_course_id = queries.module_course_ids(cohort)[0]
        return Programme(cohort.id, host.code, host.id, participants, org.staff_a[2], mentors, stones,
                         module_course_id)


@dataclass
class Teams:
    a: int  # 甲0 + 乙0, mentor 0
    b: int  # 甲1, mentor 1
    c: int  # 乙1, mentor 2


@pytest.fixture
def teams(app: Flask, org: Org, programme: Programme) -> Teams:
    with app.app_context():
        cohort = db_session.get(Cohort, programme.cohort_id)
        host = db_session.get(Unit, programme.host_id)
        p, m = programme.participants, programme.mentors

        def form(name: str, members: list[Employee], mentor: Employee) -> int:
            team = services.form_team(person(org.hr.id), cohort, name, host, "smart_government", "道路点検の効率化",
                                      [person(x.id) for x in members], [person(mentor.id)])
            db_session.commit()
            return team.id

        return Teams(form("チーム甲", [p[0], p[2]], m[0]), form("チーム乙", [p[1]], m[1]),
                     form("チーム丙", [p[3]], m[2]))


def work_post(client: FlaskClient, cohort_id: int, milestone_id: int, text: str = "",
              files: Sequence[tuple[bytes, str]] = ()):  # type: ignore[no-untyped-def]
    """Submit on the work page. The body is encoded in memory: the test client would spool a large
    body to a temporary file that it never closes (a ResourceWarning, so an error here)."""
    path = f"/cohorts/{cohort_id}/work"
    fields = {"milestone_id": str(milestone_id), "text": text, "csrf_token": factories.csrf_token(client, path),
              "files": [FileStorage(io.BytesIO(content), filename=name) for content, name in files]}
    body, _length, boundary = stream_encode_multipart(fields, use_tempfile=False)
    return client.post(path, data=body.getvalue(), content_type=f"multipart/form-data; boundary={boundary}")


def stored_files(app: Flask) -> set[str]:
    folder = Path(app.config["UPLOAD_DIR"]) / "cohorts"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def submissions_of(team_id: int) -> list[Submission]:
    db_session.expire_all()
    return list(db_session.scalars(select(Submission).where(Submission.team_id == team_id).order_by(Submission.id)))
