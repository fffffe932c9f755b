"""Plain factory functions. Each commits (a SAVEPOINT release inside the test's transaction)
and returns the row; call them inside an app context."""
from __future__ import annotations

import itertools
import re
from datetime import timedelta

from argon2 import PasswordHasher
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auth.models import Credential
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, Grade, Placement, RoleGrant, RoleName, Unit, UnitKind
from app.org.services import create_unit

PASSWORD = "correct-horse-42"
_PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
_seq = itertools.count(1)


def grade(code: str) -> Grade:
    found = db_session.scalar(select(Grade).where(Grade.code == code))
    assert found is not None, code
    return found


def unit(name: str | None = None, parent: Unit | None = None, code: str | None = None) -> Unit:
    n = next(_seq)
    created = create_unit(code or f"U{n:04d}", name or f"テスト課{n}",
                          UnitKind.DIVISION if parent else UnitKind.DEPARTMENT, parent)
    db_session.commit()
    return created


def employee(
    unit_: Unit | None = None,
    grade_code: str = "SHUNIN",
    *,
    roles: tuple[RoleName, ...] = (),
    heads: Unit | None = None,
    name: str | None = None,
    email: str | None = None,
    number: str | None = None,
    must_change: bool = False,
    active: bool = True,
) -> Employee:
    n = next(_seq)
    the_unit = unit_ or unit()
    the_grade = grade(grade_code)
    person = Employee(
        employee_number=number or f"T{n:05d}", name=name or f"試験 太郎{n}", name_kana=f"シケン タロウ{n}",
        email=email or f"t{n}@pref.example.lg.jp", grade_id=the_grade.id, unit_id=the_unit.id,
        is_active=active,
    )
    db_session.add(person)
    db_session.flush()
    db_session.add(Placement(employee_id=person.id, unit_id=the_unit.id, grade_id=the_grade.id,
                             started_on=now().date().replace(month=4, day=1)))
    db_session.add(Credential(employee_id=person.id, password_hash=_PASSWORD_HASH, must_change=must_change,
                              changed_at=now()))
    for role in roles:
        db_session.add(RoleGrant(employee_id=person.id, role=role))
    if heads is not None:
        heads.head_id = person.id
    db_session.commit()
    db_session.refresh(person)
    return person


def course(code: str | None = None, *, title_ja: str | None = None, title_en: str | None = None,
           grades: tuple[str, ...] = ("SHUNIN",), status: str = "published", track: str = "elective",
           theme: str = "general", delivery_format: str = "classroom", fiscal_year: int = 2020,
           body: str = "## ねらい\n\n本文", min_attendance: int = 100, quiz_pass_mark: int | None = None,
           survey_required: bool = False, prerequisites: tuple[str, ...] = (), hours: str = "3"):  # type: ignore[no-untyped-def]
    from app.catalog.course_files import CourseSpec
    from app.catalog.models import CourseStatus
    from app.catalog.services import save_course

    n = next(_seq)
    spec = CourseSpec(
        code=code or f"C-{n:04d}", kind="course", title_ja=title_ja or f"テスト研修{n}",
        title_en=title_en or f"Test course {n}", track=track, theme=theme, delivery_format=delivery_format,
        hours=hours, fiscal_year=fiscal_year, target_grades=list(grades), prerequisites=list(prerequisites),
        min_attendance_pct=min_attendance, quiz_pass_mark=quiz_pass_mark, survey_required=survey_required,
        body_md=body + "\n",
    )
    created = save_course(None, None, spec)  # type: ignore[arg-type]
    created.status = CourseStatus(status)
    db_session.commit()
    return created


def assignment_rule(course_, grade_code: str, *, fiscal_year: int = 2020, due_on=None, departments=()):  # type: ignore[no-untyped-def]
    from datetime import date

    from app.catalog.services import create_assignment_rule

    rule, _changes = create_assignment_rule(None, course_, grade(grade_code), fiscal_year,  # type: ignore[arg-type]
                                            due_on or date(2021, 2, 26), departments)
    db_session.commit()
    return rule


def training_session(course_, *, starts_in: timedelta = timedelta(days=14), hours: int = 3, capacity: int = 30,
                     policy: str = "none", meetings: int = 1, opens_ago: timedelta = timedelta(days=7),
                     closes_before: timedelta = timedelta(days=2), cancel_before: timedelta = timedelta(days=3),
                     location: str = "県庁 研修室A", online_url: str | None = None, instructors=(), label: str = ""):  # type: ignore[no-untyped-def]
    from app.scheduling.models import ApprovalPolicy
    from app.scheduling.services import SessionDetails, schedule_session

    current = now().replace(second=0, microsecond=0)
    start = current + starts_in
    pairs = [(start + timedelta(days=7 * i), start + timedelta(days=7 * i, hours=hours)) for i in range(meetings)]
    details = SessionDetails(
        label=label, location=location, online_url=online_url, capacity=capacity,
        enrolment_opens_at=current - opens_ago, enrolment_closes_at=start - closes_before,
        cancellation_deadline_at=start - cancel_before, approval_policy=ApprovalPolicy(policy))
    created = schedule_session(None, course_, details, pairs, list(instructors))
    db_session.commit()
    return created


def enrolment(person: Employee, session_, *, actor: Employee | None = None, override: bool = True):  # type: ignore[no-untyped-def]
    from app.enrollment.services import enrol

    result = enrol(actor or person, person, session_, override_rules=override)
    db_session.commit()
    return result.enrolment


def _levels(*descriptions: str) -> list[dict]:  # type: ignore[type-arg]
    return [{"label": label, "points": points, "description": text}
            for (label, points), text in zip((("十分", 4), ("概ね", 3), ("一部", 2), ("不十分", 0)), descriptions,
                                             strict=True)]


PRESENTATION_RUBRIC = [
    {"name": "課題設定", "levels": _levels("根拠に基づき明確", "根拠がやや弱い", "やや曖昧", "定義されていない")},
    {"name": "解決策の実効性",
     "levels": _levels("実行可能で効果の見込みがある", "効果の検証が弱い", "実現性に課題", "示されていない")},
    {"name": "発表・伝達", "levels": _levels("簡潔・明瞭", "概ね伝わる", "構成に改善の余地", "伝わらない")},
]


def cohort(*, quota: int = 3, caps: dict | None = None, requires_endorsement: bool = True,  # type: ignore[type-arg]
           grades: tuple[str, ...] = ("SHUNIN", "SHUSA", "HOSA"), open_for: timedelta = timedelta(days=10),
           opened_ago: timedelta = timedelta(days=1), modules: int = 1,
           rubrics: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    """A cohort of a fresh cohort programme (with `modules` module courses), open for applications.
    The programme's rubrics default to PRESENTATION_RUBRIC on the final presentation only."""
    from app.catalog.course_files import CourseSpec
    from app.catalog.services import save_course
    from app.cohorts.services import CohortSettings, open_cohort

    n = next(_seq)
    module_codes = [course(f"MOD-{n}-{i}", track="cohort_programme").code for i in range(modules)]
    spec = CourseSpec(code=f"PROG-{n}", kind="programme", title_ja=f"スマート人材育成{n}", title_en=f"Smart talent {n}",
                      track="cohort_programme", theme="general", delivery_format="blended", hours="12",
                      fiscal_year=2026, target_grades=list(grades), prerequisites=[], min_attendance_pct=80,
                      quiz_pass_mark=None, survey_required=False, body_md="## ねらい\n",
                      items=[(code, True) for code in module_codes], electives_required=0,
                      rubrics={"presentation": PRESENTATION_RUBRIC} if rubrics is None else rubrics)
    programme = save_course(None, None, spec)  # type: ignore[arg-type]
    current = now()
    settings = CohortSettings(name=f"第{n}期", fiscal_year=2026, applications_open_at=current - opened_ago,
                              applications_close_at=current - opened_ago + open_for, quota=quota,
                              requires_endorsement=requires_endorsement, questions=["取り組みたい課題は？"])
    created = open_cohort(None, programme, settings, [grade(g) for g in grades], caps or {})  # type: ignore[arg-type]
    db_session.commit()
    return created


# --- client helpers --------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, login_name: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/login")
    return client.post("/login", data={"login": login_name, "password": password, "csrf_token": token, **extra})


def login_as(client: FlaskClient, person: Employee):  # type: ignore[no-untyped-def]
    response = login(client, person.employee_number)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def post(client: FlaskClient, path: str, data: dict | None = None, *, form_page: str | None = None, **kwargs):  # type: ignore[no-untyped-def,type-arg]
    """POST with a valid CSRF token taken from a page (the form's page, or the home page)."""
    token = csrf_token(client, form_page or "/")
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)
