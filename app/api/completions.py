"""Completions and certificates for the personnel system, HR and managers, with the same visibility
as the web's reports.

- Who sees what: a caller with `Permission.REPORTS_ORG_READ` (HR, the personnel system and an HR
  system account) sees everyone's completions; a manager (`Permission.REPORTS_TEAM_READ` without
  it) sees the people of the subtrees they head, as the team page does (active staff of the units
  under `managed_unit_filter`, not themselves); anyone else is refused (403). Someone the caller may
  not see does not exist here: one completion of theirs is a 404, as for no such row.
- Filters narrow what the caller may see: a fiscal year (年度) and its half (上期 "first", 下期
  "second"; a half alone is the current fiscal year's, as the web's reports default), with their
  dates from app/core/fiscal.py alone; a unit with its whole subtree; a grade; a course; a person.
  A unit, grade or course code that names nothing is a 422 naming the field (the collection
  exists, the request's filter is what is wrong, and a client fixes it as it fixes a bad `limit`);
  a person is only a narrowing (an unknown number gives an empty page, so the API does not tell
  who exists), and so is a unit outside a manager's subtree (an empty page).
- The unit and grade of an item are the person's current ones: the unit filter and a manager's
  visibility read the same (as the web's reports and team page do).
- Pages follow (completed_on, id) upwards, keyset style: a completion recorded meanwhile is never
  shown twice nor makes another one skipped. One statement per page whatever its length.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask import abort
from flask_smorest import Blueprint
from flask_smorest import abort as field_abort
from marshmallow import fields, validate
from sqlalchemy import ColumnElement, Select, and_, or_, select

from app.api.errors import problem_doc
from app.api.paging import decode_keyset_cursor, next_link
from app.api.schemas import PageLinksSchema, PageQuerySchema
from app.catalog.models import Course
from app.completion.models import Completion
from app.core.clock import today
from app.core.db import db_session
from app.core.fiscal import FiscalHalf, FiscalYear, fiscal_half_of, fiscal_year_of
from app.org.models import Employee, Grade, Unit
from app.permissions import ApiCaller, api_caller, api_token, completion_people_filter
from app.web.external_urls import external_url
from app.web.ids import FISCAL_YEAR_MAX, FISCAL_YEAR_MIN
from app.web.locale import gettext as _

bp = Blueprint("api_completions", __name__, url_prefix="/api/v1",
               description="Completions and certificates, filtered by fiscal year, half, unit and grade.")

HALVES = {"first": 1, "second": 2}  # 上期 (April–September), 下期 (October–March)
_HALF_NAMES = {number: name for name, number in HALVES.items()}
_CODE = validate.Length(min=1, max=40)


# --- shapes ----------------------------------------------------------------------------------


class CompletionQuerySchema(PageQuerySchema):
    fiscal_year = fields.Integer(validate=validate.Range(min=FISCAL_YEAR_MIN, max=FISCAL_YEAR_MAX),
                                 metadata={"description": "A fiscal year (April to March) by the Western year "
                                                          "it starts in: 2026 is Reiwa 8."})
    half = fields.String(validate=validate.OneOf(tuple(HALVES)),
                         metadata={"description": "first: April to September; second: October to March, "
                                                  "of fiscal_year (the current one when not given)."})
    unit = fields.String(validate=_CODE, metadata={"description": "A unit's code: its people and its whole subtree's."})
    grade = fields.String(validate=_CODE, metadata={"description": "A grade's code (e.g. SHUNIN)."})
    course = fields.String(validate=_CODE, metadata={"description": "A course's code."})
    employee = fields.String(validate=validate.Length(min=1, max=32),
                             metadata={"description": "An employee number."})


class CertificateSchema(ma.Schema):
    code = fields.String(required=True, metadata={"description": "The certificate number, e.g. K7Q2M-9XRPA-4F3D."})
    verify_url = fields.String(required=True,
                               metadata={"description": "The public page on which anyone checks the certificate."})
    state = fields.String(required=True, validate=validate.OneOf(("valid", "expired", "revoked")),
                          metadata={"description": "What the verification page says of it today."})


class CompletionSchema(ma.Schema):
    id = fields.Integer(required=True)
    employee_number = fields.String(required=True)
    employee_name = fields.String(required=True)
    unit_code = fields.String(required=True, allow_none=True,
                              metadata={"description": "The person's current unit (null: none)."})
    unit_name = fields.String(required=True, allow_none=True)
    grade_code = fields.String(required=True, allow_none=True,
                               metadata={"description": "The person's current grade (null: none)."})
    course_code = fields.String(required=True)
    course_title_ja = fields.String(required=True)
    course_title_en = fields.String(required=True)
    completed_on = fields.Date(required=True)
    fiscal_year = fields.Integer(required=True, metadata={"description": "The fiscal year of completed_on."})
    half = fields.String(required=True,
                         metadata={"description": "first (April to September) or second, of completed_on."})
    source = fields.String(required=True, metadata={"description": "rule, programme or manual (recorded by HR)."})
    cycle = fields.Integer(required=True, metadata={"description": "1, then 2 for a renewal, and so on."})
    hours = fields.Float(required=True)
    valid_until = fields.Date(required=True, allow_none=True,
                              metadata={"description": "The last day it counts; null: it never expires."})
    expired = fields.Boolean(required=True, metadata={"description": "Past valid_until today."})
    revoked = fields.Boolean(required=True)
    revoked_at = fields.AwareDateTime(required=True, allow_none=True)
    certificate_code = fields.String(required=True)


class CompletionDetailSchema(CompletionSchema):
    certificate = fields.Nested(CertificateSchema, required=True)


class CompletionPageSchema(ma.Schema):
    items = fields.List(fields.Nested(CompletionSchema), required=True)
    links = fields.Nested(PageLinksSchema, required=True)



# --- reads -----------------------------------------------------------------------------------


def _caller() -> ApiCaller:
    caller = api_caller()
    if caller is None:  # `api_token` has answered already
        abort(401)
    return caller


def _visible(caller: ApiCaller) -> ColumnElement[bool]:
    """The Employee rows whose completions `caller` sees; 403 for a caller who sees none."""
    people = completion_people_filter(caller)
    if people is None:
        abort(403)
    return people


def _completions(caller: ApiCaller) -> Select[*tuple[Any, ...]]:
    return (select(Completion, Employee.employee_number, Employee.name.label("employee_name"),
                   Unit.code.label("unit_code"), Unit.name.label("unit_name"), Grade.code.label("grade_code"),
                   Course.code.label("course_code"), Course.title_ja, Course.title_en)
            .join(Employee, Completion.employee_id == Employee.id)
            .join(Course, Completion.course_id == Course.id)
            .outerjoin(Unit, Employee.unit_id == Unit.id)
            .outerjoin(Grade, Employee.grade_id == Grade.id)
            .where(_visible(caller)))


def _unknown(field: str, message: str) -> None:
    field_abort(422, errors={"query": {field: [message]}})


def _filters(fiscal_year: int | None, half: str | None, unit: str | None, grade: str | None,
             course: str | None, employee: str | None) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the filters; 422 naming the field of a code that names nothing."""
    clauses: list[ColumnElement[bool]] = []
    if half is not None and fiscal_year is None:  # as the web's reports: the current fiscal year
        fiscal_year = fiscal_year_of(today()).year
    if fiscal_year is not None:
        period: FiscalYear | FiscalHalf = FiscalHalf(fiscal_year, HALVES[half]) if half else FiscalYear(fiscal_year)
        clauses.append(Completion.completed_on.between(period.starts_on, period.ends_on))
    if unit is not None:
        path = db_session.scalar(select(Unit.path).where(Unit.code == unit))
        if path is None:
            _unknown("unit", _("Unknown unit code %(code)s.", code=unit))
        clauses.append(Employee.unit_id.in_(select(Unit.id).where(Unit.path.startswith(str(path)))))
    if grade is not None:
        grade_id = db_session.scalar(select(Grade.id).where(Grade.code == grade))
        if grade_id is None:
            _unknown("grade", _("Unknown grade code %(code)s.", code=grade))
        clauses.append(Employee.grade_id == grade_id)
    if course is not None:
        course_id = db_session.scalar(select(Course.id).where(Course.code == course))
        if course_id is None:
            _unknown("course", _("Unknown course code %(code)s.", code=course))
        clauses.append(Completion.course_id == course_id)
    if employee is not None:
        clauses.append(Employee.employee_number == employee)
    return clauses


def _after(cursor: str | None) -> tuple[date, int] | None:
    return decode_keyset_cursor(cursor, "completed_on", date)


def _state(completion: Completion, day: date) -> str:
    if completion.revoked_at is not None:
        return "revoked"
    return "expired" if completion.is_expired_on(day) else "valid"


def completion_body(row: Any, day: date) -> dict[str, Any]:
    completion: Completion = row.Completion
    half = fiscal_half_of(completion.completed_on)
    return {"id": completion.id, "employee_number": row.employee_number, "employee_name": row.employee_name,
            "unit_code": row.unit_code, "unit_name": row.unit_name, "grade_code": row.grade_code,
            "course_code": row.course_code, "course_title_ja": row.title_ja, "course_title_en": row.title_en,
            "completed_on": completion.completed_on, "fiscal_year": half.year, "half": _HALF_NAMES[half.half],
            "source": completion.source.value, "cycle": completion.cycle, "hours": completion.hours,
            "valid_until": completion.valid_until, "expired": completion.is_expired_on(day),
            "revoked": completion.revoked_at is not None, "revoked_at": completion.revoked_at,
            "certificate_code": completion.certificate_code}


# --- endpoints -------------------------------------------------------------------------------


@bp.route("/completions", methods=["GET"])
@api_token("read")
@bp.arguments(CompletionQuerySchema, location="query", as_kwargs=True)
@bp.response(200, CompletionPageSchema)
@bp.alt_response(422, **problem_doc("A filter is not valid or names nothing (the field says which), or the cursor "
                                    "is not one this API gave out."))
def list_completions(limit: int, cursor: str | None = None, fiscal_year: int | None = None, half: str | None = None,
                     unit: str | None = None, grade: str | None = None, course: str | None = None,
                     employee: str | None = None) -> dict[str, Any]:
    """Completions the caller may see (revoked and expired ones too, flagged), oldest first: for HR
    and the personnel system everyone's, for a manager their team's. Filters narrow them: a fiscal
    year and its half, a unit with its subtree, a grade, a course, a person."""
    caller = _caller()
    statement = _completions(caller)  # 403 before any filter is looked up
    after = _after(cursor)
    statement = statement.where(*_filters(fiscal_year, half, unit, grade, course, employee))
    if after is not None:
        statement = statement.where(or_(Completion.completed_on > after[0],
                                        and_(Completion.completed_on == after[0], Completion.id > after[1])))
    rows = db_session.execute(statement.order_by(Completion.completed_on, Completion.id).limit(limit + 1)).all()
    page = rows[:limit]
    day = today()
    last = page[-1].Completion if len(rows) > limit else None
    position = {"completed_on": last.completed_on.isoformat(), "id": last.id} if last else None
    return {"items": [completion_body(row, day) for row in page],
            "links": {"next": next_link(position, limit, fiscal_year=fiscal_year, half=half, unit=unit, grade=grade,
                                        course=course, employee=employee)}}


@bp.route("/completions/<int:completion_id>", methods=["GET"])
@api_token("read")
@bp.response(200, CompletionDetailSchema)
@bp.alt_response(404, **problem_doc("No such completion, or not one the caller may see."))
def get_completion(completion_id: int) -> dict[str, Any]:
    """One completion with its certificate: the number and the public verification page's address
    (as the web's certificate page prints it). 404 for one the caller may not see."""
    row = db_session.execute(_completions(_caller()).where(Completion.id == completion_id)).one_or_none()
    if row is None:
        abort(404)
    day = today()
    completion: Completion = row.Completion
    return {**completion_body(row, day), "certificate": {
        "code": completion.certificate_code, "state": _state(completion, day),
        "verify_url": external_url("completion.verify", code=completion.certificate_code)}}
