"""GET /api/v1/me: whom the token acts for, with which roles and scopes, until when; what an
integrator checks first when a call is refused (a person's token or a system account's?)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import abort
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app.permissions import api_caller, api_token

bp = Blueprint("api_me", __name__, url_prefix="/api/v1", description="Whom the token acts for.")


class CallerSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("person", "system")),
                         metadata={"description": "person: a personal access token; system: a system account's."})
    employee_number = fields.String(required=True, allow_none=True, metadata={"description": "null for a system."})
    name = fields.String(required=True, metadata={"description": "The person's, or the system account's name."})
    roles = fields.List(fields.String(), required=True,
                        metadata={"description": "employee, manager, instructor, mentor, hr, admin; a system "
                                                 "account's one role (personnel_system, hr)."})
    scopes = fields.List(fields.String(), required=True)
    token_expires_at = fields.AwareDateTime(required=True)


@bp.route("/me", methods=["GET"])
@api_token("read")
@bp.response(200, CallerSchema)
def who_am_i() -> dict[str, Any]:
    """Whom this token acts for: the person (with their roles) or the system account (with its
    role), the token's scopes and when it stops working."""
    caller = api_caller()
    if caller is None or caller.expires_at is None:  # `api_token` has answered 401 already
        abort(401)
    person = caller.employee
    return {"kind": "person" if person is not None else "system",
            "employee_number": person.employee_number if person is not None else None,
            "name": person.name if person is not None else caller.system_name, "roles": caller.roles,
            "scopes": sorted(caller.scopes), "token_expires_at": caller.expires_at}
