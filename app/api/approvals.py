"""Requests awaiting one's decision (a manager's, HR's): approve or decline through the same
services as the web's approvals page.

- The list holds the rows of the web's approvals page (`permissions.awaiting_decision_filter`),
  oldest request first, in pages (the cursor as for /me/enrolments).
- One request is seen here by whoever may decide it, or could have (a request of someone they may
  view that went through approval: already decided, forwarded to HR, withdrawn), so that the loser
  of a race reads what happened. Anyone else's is 404: the API does not tell that it exists.
- A decision calls `app.enrollment.services.approve` / `decline`, which lock the session, re-read
  the request and move it in one guarded transition, and record the audit event.

The ETag is the enrolment's (`app.api.enrolments.enrolment_etag`): one ETag is valid on
/me/enrolments and here alike.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import Response, abort, jsonify
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import joinedload

from app.api.enrolments import enrolment_etag
from app.api.errors import problem, problem_doc
from app.api.paging import decode_keyset_cursor, etag_matches, if_match_required, next_link
from app.api.schemas import IfMatchHeaderSchema, PageLinksSchema, PageQuerySchema
from app.core.db import db_session
from app.core.text_safety import UnsafeText, check_single_line
from app.enrollment import queries
from app.enrollment.models import Enrolment
from app.enrollment.services import EnrolmentError, approve, current_policy, decline, handed_over_notice
from app.org.labels import grade_label, unit_label
from app.org.models import Employee
from app.permissions import (
    Permission,
    api_person,
    api_token,
    awaiting_decision_filter,
    can_decide_enrolment,
    can_decide_enrolment_now,
    can_follow_request,
)
from app.web.locale import current_language
from app.web.locale import gettext as _

bp = Blueprint("api_approvals", __name__, url_prefix="/api/v1",
               description="Enrolment requests awaiting the caller's decision: list, read, approve or decline.")

REASON_MAX = 300  # as the web's DecisionForm.reason


# --- shapes ------------------------------------------------------------------------------------


class ApprovalSchema(ma.Schema):
    id = fields.Integer(required=True, metadata={"description": "The enrolment's id."})
    state = fields.String(required=True,
                          metadata={"description": "pending, confirmed, waitlisted, cancelled, declined"})
    holds_seat = fields.Boolean(required=True, metadata={"description": "A seat is kept for the request."})
    approval_stage = fields.String(required=True,
                                   metadata={"description": "manager, hr (waiting for that stage), approved, "
                                                            "declined, not_required"})
    may_decide_now = fields.Boolean(required=True,
                                    metadata={"description": "The caller may approve or decline it now."})
    employee_number = fields.String(required=True, metadata={"description": "The requester's employee number."})
    employee_name = fields.String(required=True)
    unit_code = fields.String(required=True, allow_none=True)
    unit_name = fields.String(required=True, metadata={"description": "In the request's language."})
    grade_code = fields.String(required=True, allow_none=True)
    grade_name = fields.String(required=True, metadata={"description": "In the request's language."})
    course_code = fields.String(required=True)
    course_title = fields.String(required=True, metadata={"description": "In the request's language."})
    session_id = fields.Integer(required=True)
    starts_at = fields.AwareDateTime(required=True, metadata={"description": "The session's first meeting."})
    requested_at = fields.AwareDateTime(required=True)


class ApprovalPageSchema(ma.Schema):
    items = fields.List(fields.Nested(ApprovalSchema), required=True)
    links = fields.Nested(PageLinksSchema, required=True)


def _single_line(value: str) -> None:
    try:
        check_single_line(value)
    except UnsafeText as unsafe:
        raise ma.ValidationError(unsafe.describe()) from None


class DecisionSchema(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "decline")))
    reason = fields.String(load_default="", validate=[validate.Length(max=REASON_MAX), _single_line],
                           metadata={"description": "Why it is declined (required to decline; one line, "
                                                    f"at most {REASON_MAX} characters). Shown to the requester."})

    @ma.validates_schema
    def _reason_to_decline(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("decision") == "decline" and not str(data.get("reason") or "").strip():
            raise ma.ValidationError(_("Give a reason for declining."), field_name="reason")


_NOT_YOURS = "No such request, or none the caller has a say in (the same answer for both)."



def approval_body(enrolment: Enrolment, may_decide_now: bool) -> dict[str, Any]:
    employee = enrolment.employee
    language = current_language()
    return {"id": enrolment.id, "state": enrolment.state.value, "holds_seat": enrolment.holds_seat,
            "approval_stage": enrolment.approval_stage.value, "may_decide_now": may_decide_now,
            "employee_number": employee.employee_number, "employee_name": employee.name,
            "unit_code": employee.unit.code if employee.unit else None,
            "unit_name": unit_label(employee.unit, language),
            "grade_code": employee.grade.code if employee.grade else None,
            "grade_name": grade_label(employee.grade, language),
            "course_code": enrolment.course.code, "course_title": enrolment.course.title(language),
            "session_id": enrolment.session_id, "starts_at": enrolment.training_session.starts_at,
            "requested_at": enrolment.requested_at}


def _approval_response(person: Employee, enrolment: Enrolment) -> Response:
    response = jsonify(ApprovalSchema().dump(approval_body(enrolment, can_decide_enrolment_now(person, enrolment))))
    response.headers["ETag"] = enrolment_etag(enrolment)
    return response


# --- which requests the caller sees --------------------------------------------------------------


def _awaiting_page(person: Employee, after: tuple[datetime, int] | None, limit: int) -> list[Enrolment]:
    """The web approvals page's rows (`queries.approvals_for`: the same filter, the same order),
    the first `limit` after `after`; one statement, each with its person, session and course."""
    stmt = (select(Enrolment).where(awaiting_decision_filter(person))
            .options(joinedload(Enrolment.employee), joinedload(Enrolment.training_session),
                     joinedload(Enrolment.course)))
    if after is not None:
        requested_at, enrolment_id = after
        stmt = stmt.where(or_(Enrolment.requested_at > requested_at,
                              and_(Enrolment.requested_at == requested_at, Enrolment.id > enrolment_id)))
    return list(db_session.scalars(stmt.order_by(Enrolment.requested_at, Enrolment.id).limit(limit)).unique())


def _in_approvals(person: Employee, enrolment: Enrolment, *, deciding: bool) -> bool:
    """Whether `person` sees this request here (`can_follow_request`); or, to decide it (and be
    told why not), it was theirs to decide until a transfer handed it to another head."""
    if can_follow_request(person, enrolment):
        return True
    return deciding and handed_over_notice(person, enrolment) is not None


def _request_or_404(enrolment_id: int, *, deciding: bool) -> Enrolment:
    enrolment = queries.load_enrolment(enrolment_id)
    if enrolment is None or not _in_approvals(api_person(), enrolment, deciding=deciding):
        abort(404)
    return enrolment


def _with_request(view: Callable[..., Response]) -> Callable[..., Response]:
    """The request named in the path, or 404 before the body is read (a request one may not see
    answers the same whatever is sent)."""

    @wraps(view)
    def wrapper(*args: Any, enrolment_id: int, **kwargs: Any) -> Response:
        return view(*args, enrolment=_request_or_404(enrolment_id, deciding=True), **kwargs)

    return wrapper


# --- endpoints -----------------------------------------------------------------------------------


@bp.route("/approvals", methods=["GET"])
@api_token("read", Permission.ENROLLMENT_APPROVE, person=True)
@bp.arguments(PageQuerySchema, location="query", as_kwargs=True)
@bp.response(200, ApprovalPageSchema)
def list_approvals(limit: int, cursor: str | None = None) -> dict[str, Any]:
    """The requests awaiting the caller's decision, oldest first: the rows of the web's approvals
    page (their team's requests at the manager's stage; for HR, every request at HR's stage)."""
    position = decode_keyset_cursor(cursor, "requested_at", datetime)
    person = api_person()
    enrolments = _awaiting_page(person, position, limit + 1)
    more = len(enrolments) > limit
    page = enrolments[:limit]
    last = page[-1] if more else None
    # `may_decide_now` by the rights read for this request (no statement per row); the decision
    # itself reads a manager's right again as committed (`can_decide_enrolment_now`).
    return {"items": [approval_body(e, can_decide_enrolment(person, e)) for e in page],
            "links": {"next": next_link({"requested_at": last.requested_at.isoformat(), "id": last.id}
                                        if last else None, limit)}}


@bp.route("/approvals/<int:enrolment_id>", methods=["GET"])
@api_token("read", Permission.ENROLLMENT_APPROVE, person=True)
@bp.response(200, ApprovalSchema, headers={"ETag": {"schema": {"type": "string"}}})
@bp.alt_response(404, **problem_doc(_NOT_YOURS))
def get_approval(enrolment_id: int) -> Response:
    """One request, with the ETag that a decision sends back as If-Match (the same ETag as the
    requester's /me/enrolments/{id}). A request that is not, and never was, the caller's to decide
    is 404, as if there were none."""
    return _approval_response(api_person(), _request_or_404(enrolment_id, deciding=False))


@bp.route("/approvals/<int:enrolment_id>/decision", methods=["POST"])
@api_token("approve", Permission.ENROLLMENT_APPROVE, person=True)
@if_match_required
@_with_request
@bp.arguments(IfMatchHeaderSchema, location="headers", as_kwargs=True)
@bp.arguments(DecisionSchema, location="json", as_kwargs=True)
@bp.response(200, ApprovalSchema, headers={"ETag": {"schema": {"type": "string"}}})
@bp.alt_response(404, **problem_doc(_NOT_YOURS))
@bp.alt_response(409, **problem_doc("Refused by the approval rules: already decided or withdrawn, "
                                    "now at another stage, handed to another approver ..."))
@bp.alt_response(412, **problem_doc("If-Match does not match the request's current ETag."))
@bp.alt_response(428, **problem_doc("If-Match is missing."))
def decide_approval(enrolment: Enrolment, if_match: str, decision: str, reason: str = "") -> Response:
    """Approve or decline a request at its current stage, as the web's approvals page does (a
    manager's approval under a manager-then-HR policy forwards it to HR). Declining needs a
    reason, which the requester is shown.

    If-Match must carry the ETag read last. It makes a retry safe, so no Idempotency-Key is taken:
    once a decision is made the request's ETag changes, and a second send of it is 412 (or 409 if
    it raced the first); it never decides twice."""
    person = api_person()
    if not etag_matches(if_match, enrolment_etag(enrolment)):
        abort(412)
    try:
        with db_session.begin_nested():
            if decision == "approve":
                approve(person, enrolment)
            else:
                decline(person, enrolment, reason.strip(), current_policy())
    except EnrolmentError as error:
        db_session.commit()  # nothing changed but the request's count (app/api/auth.py)
        return problem(409, str(error))
    db_session.commit()
    return _approval_response(person, enrolment)
