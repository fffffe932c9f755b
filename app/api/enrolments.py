"""One's own enrolments through the API: list them, read one (with its ETag), enrol (with an
optional Idempotency-Key) and cancel (If-Match required). Enrolling and cancelling call the same
services as the web's enrol and cancel buttons (app/enrollment/services.py), with the same rules:
the token's owner acts for themselves."""
from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, url_for
from flask_smorest import Blueprint

from app.api.errors import problem, problem_doc
from app.api.idempotency import remember, replay_or_claim
from app.api.paging import decode_cursor, etag_matches, if_match_required, make_etag, next_link
from app.api.schemas import (
    EnrolmentPageSchema,
    EnrolmentSchema,
    IdempotencyHeaderSchema,
    IfMatchHeaderSchema,
    PageQuerySchema,
)
from app.completion.services import completed_course_ids_many
from app.core.db import db_session
from app.enrollment import queries
from app.enrollment.models import Enrolment
from app.enrollment.services import EnrolmentError, cancel, current_policy, enrol
from app.permissions import ApiCaller, api_caller, api_person, api_token, can_join_cohort_session, is_own_enrolment
from app.scheduling.queries import load_session
from app.web.locale import gettext as _

bp = Blueprint("api_enrolments", __name__, url_prefix="/api/v1",
               description="One's own enrolments: enrol, cancel, waitlist position.")


def _caller() -> ApiCaller:
    caller = api_caller()
    if caller is None or caller.employee is None:  # `api_token(person=True)` has answered already
        abort(401)
    return caller


def enrolment_body(enrolment: Enrolment, position: int | None) -> dict[str, Any]:
    training_session = enrolment.training_session
    return {"id": enrolment.id, "session_id": enrolment.session_id, "course_code": enrolment.course.code,
            "state": enrolment.state.value, "holds_seat": enrolment.holds_seat,
            "approval_stage": enrolment.approval_stage.value, "waitlist_position": position,
            "requested_at": enrolment.requested_at, "starts_at": training_session.starts_at,
            "cancellation_deadline_at": training_session.cancellation_deadline_at}


def enrolment_etag(enrolment: Enrolment) -> str:
    return make_etag("enrolment", enrolment.id, enrolment.state.value, enrolment.holds_seat,
                     enrolment.approval_stage.value, enrolment.ended_at)


def _enrolment_response(enrolment: Enrolment, status: int = 200) -> Response:
    position = queries.positions_for([enrolment]).get(enrolment.id)
    response = jsonify(EnrolmentSchema().dump(enrolment_body(enrolment, position)))
    response.status_code = status
    response.headers["ETag"] = enrolment_etag(enrolment)
    return response


def _own_enrolment_or_404(caller: ApiCaller, enrolment_id: int) -> Enrolment:
    """One's own enrolment; anyone else's does not exist here (404, as for no such row)."""
    enrolment = queries.load_enrolment(enrolment_id)
    if enrolment is None or not is_own_enrolment(api_person(), enrolment):
        abort(404)
    return enrolment


@bp.route("/me/enrolments", methods=["GET"])
@api_token("read", person=True)
@bp.arguments(PageQuerySchema, location="query", as_kwargs=True)
@bp.response(200, EnrolmentPageSchema)
def list_my_enrolments(limit: int, cursor: str | None = None) -> dict[str, Any]:
    """The caller's enrolments, newest first, with their waitlist positions."""
    after = decode_cursor(cursor, {"before": int})
    enrolments = queries.enrolments_page(api_person().id, after["before"] if after else None, limit + 1)
    more = len(enrolments) > limit
    page = enrolments[:limit]
    positions = queries.positions_for(page)
    return {"items": [enrolment_body(e, positions.get(e.id)) for e in page],
            "links": {"next": next_link({"before": page[-1].id} if more else None, limit)}}


@bp.route("/me/enrolments/<int:enrolment_id>", methods=["GET"])
@api_token("read", person=True)
@bp.response(200, EnrolmentSchema, headers={"ETag": {"schema": {"type": "string"}}})
def get_my_enrolment(enrolment_id: int) -> Response:
    """One of the caller's enrolments, with the ETag that a cancellation sends back as If-Match."""
    return _enrolment_response(_own_enrolment_or_404(_caller(), enrolment_id))


@bp.route("/sessions/<int:session_id>/enrolments", methods=["POST"])
@api_token("enrol", person=True)
@bp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)
@bp.response(201, EnrolmentSchema, headers={"ETag": {"schema": {"type": "string"}},
                                            "Location": {"schema": {"type": "string"}}})
@bp.alt_response(409, **problem_doc("Refused by the enrolment rules (window closed, already enrolled, ...)."))
def enrol_me(session_id: int, idempotency_key: str | None = None) -> Response:
    """Enrol the caller in a session: a seat if one is free, else the waitlist (or a request
    awaiting approval, as the session's policy says). With an Idempotency-Key, a retry of the
    same request answers what the first one did."""
    caller = _caller()
    replayed, row = replay_or_claim(caller.holder, idempotency_key)
    if replayed is not None:
        return replayed
    training_session = load_session(session_id)
    if training_session is None:
        abort(404)  # refused: the key's claim is undone (app/api/auth.py keeps the count)
    employee = api_person()
    try:
        if training_session.cohort_only and not can_join_cohort_session(employee, training_session):
            raise EnrolmentError(_("This session is only for the participants of its cohort."))
        with db_session.begin_nested():
            completed = completed_course_ids_many([employee.id]).get(employee.id, set())
            result = enrol(employee, employee, training_session, completed_course_ids=completed)
        response = _enrolment_response(result.enrolment, 201)
        response.headers["Location"] = url_for("api_enrolments.get_my_enrolment", enrolment_id=result.enrolment.id)
    except EnrolmentError as error:
        response = problem(409, str(error))
    if row is not None:
        remember(row, response)
    db_session.commit()
    return response



@bp.route("/me/enrolments/<int:enrolment_id>", methods=["DELETE"])
@api_token("enrol", person=True)
@if_match_required
@bp.arguments(IfMatchHeaderSchema, location="headers", as_kwargs=True)
@bp.response(200, EnrolmentSchema, headers={"ETag": {"schema": {"type": "string"}}})
@bp.alt_response(409, **problem_doc("Already ended, or the cancellation deadline has passed."))
@bp.alt_response(412, **problem_doc("If-Match does not match the enrolment's current ETag."))
@bp.alt_response(428, **problem_doc("If-Match is missing."))
def cancel_my_enrolment(enrolment_id: int, if_match: str) -> Response:
    """Cancel one of the caller's enrolments, as the web's cancel button does (until the
    session's cancellation deadline). If-Match must carry the ETag read last."""
    caller = _caller()
    enrolment = _own_enrolment_or_404(caller, enrolment_id)
    if not etag_matches(if_match, enrolment_etag(enrolment)):
        abort(412)
    try:
        with db_session.begin_nested():
            cancel(api_person(), enrolment, "", current_policy())
    except EnrolmentError as error:
        db_session.commit()  # nothing changed but the request's count (app/api/auth.py)
        return problem(409, str(error))
    db_session.commit()
    return _enrolment_response(enrolment)
