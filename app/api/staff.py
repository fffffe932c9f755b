"""Staff upsert for the personnel system: the same validation, plan and all-or-nothing rule as the
CSV import.

POST /api/v1/staff/changes takes the people as the staff CSV has them (app/org/staff_csv.py COLUMNS:
employee_number, name, name_kana, email, grade, unit, is_head) and goes through THE SAME steps as
the CSV import and the directory sync (app/org/services.py): every value under the one-line rule
of app/core/text_safety.py, then `validate_staff_rows`, `plan_staff_changes`, `apply_staff_import`.

- mode "complete": the list is the whole staff, as a CSV file is (active staff missing leave);
  mode "partial": only the people listed are added, updated, transferred or brought back.
- Any problem in any item is a 422 naming every failing field as `people[3].unit` (the item's
  index in the request), and nothing is applied. `dry_run` answers the plan and writes nothing.
- Transfers and promotions take effect on `as_of` (the old placement ends the day before), which
  must lie within AS_OF_REACH of today.
- Upserts are serialised (`lock_staff_list`, taken before anything is read): a second one waits
  and plans from what the first wrote, so two never interleave.
- An Idempotency-Key replays the first answer of the same request (app/api/idempotency.py).
- At most MAX_PEOPLE items per request.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import marshmallow as ma
from flask import Response, jsonify
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate
from werkzeug.exceptions import Unauthorized

from app.api.errors import problem_doc
from app.api.idempotency import remember, replay_or_claim
from app.api.schemas import IdempotencyHeaderSchema
from app.core.clock import today
from app.core.db import db_session
from app.core.text_safety import find_unsafe
from app.org.reference import ensure_grades
from app.org.services import (
    Change,
    ImportIssue,
    ImportReport,
    apply_staff_import,
    load_people,
    lock_staff_list,
    plan_staff_changes,
    validate_staff_rows,
)
from app.org.staff_csv import COLUMNS, StaffRow
from app.permissions import ApiCaller, Permission, api_caller, api_token
from app.web.locale import gettext as _

bp = Blueprint("api_staff", __name__, url_prefix="/api/v1",
               description="Staff, grades and placements from the personnel system (all or nothing).")

MAX_PEOPLE = 10_000  # per request: a prefecture's whole staff (about 6,000) fits in one
AS_OF_REACH = timedelta(days=366)  # as_of lies within a year of today, before or after
MODES = ("partial", "complete")
TEXT_FIELDS = ("employee_number", "name", "name_kana", "email", "grade", "unit")
assert set(TEXT_FIELDS) | {"is_head"} == set(COLUMNS), "the API takes exactly the staff CSV's columns"


def _path(keys: tuple[Any, ...]) -> str:
    """("people", 3, "unit") as "people[3].unit"."""
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "_schema"


def _flatten(messages: Any, keys: tuple[Any, ...] = ()) -> dict[str, list[str]]:
    """marshmallow's nested messages ({"people": {3: {"unit": [...]}}}) keyed by their path."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            for path, texts in _flatten(value, (*keys, key)).items():
                flat.setdefault(path, []).extend(texts)
        return flat
    if isinstance(messages, list | tuple):
        return {_path(keys): [str(message) for message in messages]}
    return {_path(keys): [str(messages)]}


def _sane_as_of(value: date) -> None:
    current = today()
    earliest, latest = current - AS_OF_REACH, current + AS_OF_REACH
    if not earliest <= value <= latest:
        raise ma.ValidationError(_("must be between %(earliest)s and %(latest)s (within a year of today)",
                                   earliest=earliest.isoformat(), latest=latest.isoformat()))


class StaffPersonSchema(ma.Schema):
    """One person as a line of the staff CSV has them (the same checks apply)."""

    employee_number = fields.String(required=True,
                                    metadata={"description": "The employee number (at most 32 characters)."})
    name = fields.String(required=True, metadata={"description": "The full name (at most 100 characters, one line)."})
    name_kana = fields.String(load_default="",
                              metadata={"description": "The name in kana; empty keeps the one on file."})
    email = fields.String(required=True, metadata={"description": "Unique among the staff."})
    grade = fields.String(required=True, metadata={"description": "The grade's code or name."})
    unit = fields.String(required=True, metadata={"description": "The open division's code."})
    is_head = fields.Boolean(load_default=False,
                             metadata={"description": "The head of their division; one per division."})


class StaffChangesSchema(ma.Schema):
    """The request: who is on the staff, where and at what grade, from `as_of`."""

    as_of = fields.Date(required=True, validate=_sane_as_of,
                        metadata={"description": "The day transfers and promotions take effect (within a year "
                                                 "of today); the old placement ends the day before."})
    mode = fields.String(required=True, validate=validate.OneOf(MODES),
                         metadata={"description": "partial: only the people listed change, nobody leaves. "
                                                  "complete: the list is the whole staff; active staff missing "
                                                  "from it are deactivated (as the CSV import does)."})
    dry_run = fields.Boolean(load_default=False,
                             metadata={"description": "Answer the plan and write nothing."})
    people = fields.List(fields.Nested(StaffPersonSchema), required=True,
                         validate=validate.Length(min=1, max=MAX_PEOPLE),
                         metadata={"description": f"1 to {MAX_PEOPLE:,} people."})

    def handle_error(self, error: ma.ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        """Name each failing field by its path, as the import's problems are: `people[3].unit`."""
        raise ma.ValidationError(_flatten(error.messages), data=data, valid_data=error.valid_data)


class ChangeListSchema(ma.Schema):
    count = fields.Integer(required=True)
    employee_numbers = fields.List(fields.String(), required=True)


class StaffChangesResultSchema(ma.Schema):
    """What the upsert did (or, in a dry run, would do)."""

    as_of = fields.Date(required=True)
    mode = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    applied = fields.Boolean(required=True, metadata={"description": "False for a dry run."})
    rows = fields.Integer(required=True, metadata={"description": "The people in the request."})
    added = fields.Nested(ChangeListSchema, required=True)
    transferred = fields.Nested(ChangeListSchema, required=True,
                                metadata={"description": "Moved to another division or grade."})
    updated = fields.Nested(ChangeListSchema, required=True, metadata={"description": "Name or e-mail changed."})
    reactivated = fields.Nested(ChangeListSchema, required=True)
    deactivated = fields.Nested(ChangeListSchema, required=True, metadata={"description": "Complete mode only."})
    heads = fields.Nested(ChangeListSchema, required=True,
                          metadata={"description": "Divisions whose head changes: the new head's number, or the "
                                                   "old head's when the post is left empty."})
    unchanged = fields.Integer(required=True)



def _caller() -> ApiCaller:
    caller = api_caller()
    if caller is None:  # `api_token` has answered already
        raise Unauthorized()
    return caller


def _where(index: int) -> str:
    return f"people[{index}]"


def _staff_rows(people: list[dict[str, Any]], report: ImportReport) -> list[StaffRow]:
    """The items as the CSV's rows, numbered by their index (stripped, as the CSV's cells are); a
    value breaking the one-line rule is an issue, as it refuses a file."""
    rows = []
    for index, person in enumerate(people):
        values: dict[str, str] = {}
        for key in TEXT_FIELDS:
            value = str(person.get(key, "")).strip()
            problem = find_unsafe(value)
            if problem is not None:
                report.issues.append(ImportIssue(index, key, problem.describe()))
                value = value.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate cannot be echoed
            values[key] = value
        values["is_head"] = "yes" if person.get("is_head") else ""
        rows.append(StaffRow(line=index, values=values))
    return rows


def _refuse(report: ImportReport) -> None:
    """422: every issue, named `people[i].field`; the transaction (claimed key included) is undone."""
    errors: dict[str, list[str]] = {}
    for issue in sorted(report.issues, key=lambda issue: issue.line):
        errors.setdefault(f"{_where(issue.line)}.{issue.field}", []).append(issue.message)
    abort(422, errors={"json": errors},
          message=_("%(count)s problem(s) in the people sent: nothing was applied.", count=len(report.issues)))


def _source(caller: ApiCaller) -> str:
    """Who sent the upsert, for the audit trail's summary."""
    if caller.employee is None:
        return f"API, system account {caller.system_name} ({caller.system_role})"
    return "API, personal access token"


def _changes(changes: list[Change]) -> dict[str, Any]:
    return {"count": len(changes), "employee_numbers": [change.employee_number for change in changes]}


def _result(report: ImportReport, body: dict[str, Any]) -> dict[str, Any]:
    return {"as_of": body["as_of"], "mode": body["mode"], "dry_run": body["dry_run"], "applied": report.applied,
            "rows": report.rows, "added": _changes(report.added), "transferred": _changes(report.transferred),
            "updated": _changes(report.updated), "reactivated": _changes(report.reactivated),
            "deactivated": _changes(report.deactivated), "heads": _changes(report.heads),
            "unchanged": report.unchanged}


@bp.route("/staff/changes", methods=["POST"])
@api_token("staff", Permission.ORG_STAFF_IMPORT)
@bp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@bp.arguments(StaffChangesSchema, location="json")
@bp.response(200, StaffChangesResultSchema)
@bp.alt_response(409, **problem_doc("The Idempotency-Key is held by a request still being answered."))
@bp.alt_response(422, **problem_doc("Some people are not valid (each field named as people[i].field, with the "
                                    "staff import's message), or as_of, mode or people is: nothing was applied."))
def post_staff_changes(body: dict[str, Any], idempotency_key: str | None = None) -> Response:
    """Add, update, transfer (and in complete mode deactivate) staff as of a date, as the staff CSV
    import does: all or nothing. For the personnel system's account (scope "staff") or an HR
    person's token. A dry run answers the plan and writes nothing."""
    caller = _caller()
    replayed, row = replay_or_claim(caller.holder, idempotency_key)
    if replayed is not None:
        return replayed

    lock_staff_list()  # before reading anything the plan is made from: a second upsert waits here
    ensure_grades()  # a fresh install's grade ladder, as the CSV import makes sure of
    report = ImportReport(encoding="json", rows=len(body["people"]))
    rows = _staff_rows(body["people"], report)
    people = load_people()
    valid = validate_staff_rows(rows, report, people, where=_where)
    if report.issues:
        _refuse(report)
    plan = plan_staff_changes(valid, people, report, as_of=body["as_of"],
                              deactivate_missing=body["mode"] == "complete")
    if not body["dry_run"]:
        apply_staff_import(plan, caller.employee, source=_source(caller))
    response = jsonify(StaffChangesResultSchema().dump(_result(report, body)))
    if row is not None:
        remember(row, response)
    db_session.commit()
    return response

