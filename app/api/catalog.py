"""The catalog through the API: published courses, and the sessions one can enrol in with their
seats left and waitlist length. Reads only; every endpoint needs a token with the "read" scope."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, abort, jsonify
from flask_smorest import Blueprint

from app.api.paging import decode_cursor, decode_keyset_cursor, make_etag, next_link
from app.api.schemas import (
    CoursePageSchema,
    CourseSchema,
    PageQuerySchema,
    SessionPageSchema,
    SessionQuerySchema,
)
from app.catalog.models import Course
from app.catalog.queries import course_by_code, course_row_by_code, published_courses_page
from app.enrollment.queries import waitlist_lengths
from app.permissions import api_caller, api_token
from app.scheduling.models import TrainingSession
from app.scheduling.queries import upcoming_sessions_page
from app.web.locale import gettext as _

bp = Blueprint("api_catalog", __name__, url_prefix="/api/v1", description="The catalog: courses and sessions.")


def course_body(course: Course) -> dict[str, Any]:
    return {"code": course.code, "title_ja": course.title_ja, "title_en": course.title_en, "kind": course.kind.value,
            "track": course.track.value, "theme": course.theme.value,
            "delivery_format": course.delivery_format.value, "hours": course.hours,
            "fiscal_year": course.fiscal_year, "version": course.version,
            "target_grades": [grade.code for grade in course.target_grades]}


def session_body(training_session: TrainingSession, waiting: int) -> dict[str, Any]:
    return {"id": training_session.id, "course_code": training_session.course.code, "label": training_session.label,
            "location": training_session.location, "starts_at": training_session.starts_at,
            "ends_at": training_session.ends_at, "enrolment_opens_at": training_session.enrolment_opens_at,
            "enrolment_closes_at": training_session.enrolment_closes_at,
            "cancellation_deadline_at": training_session.cancellation_deadline_at,
            "approval_policy": training_session.approval_policy.value, "capacity": training_session.capacity,
            "seats_left": training_session.seats_left, "waitlist_length": waiting}


@bp.route("/courses", methods=["GET"])
@api_token("read")
@bp.arguments(PageQuerySchema, location="query", as_kwargs=True)
@bp.response(200, CoursePageSchema)
def list_courses(limit: int, cursor: str | None = None) -> dict[str, Any]:
    """The published courses, in code order."""
    after = decode_cursor(cursor, {"code": str})
    courses = published_courses_page(after["code"] if after else None, limit + 1)
    more = len(courses) > limit
    page = courses[:limit]
    return {"items": [course_body(c) for c in page],
            "links": {"next": next_link({"code": page[-1].code} if more else None, limit)}}


@bp.route("/courses/<code>", methods=["GET"])
@api_token("read")
@bp.response(200, CourseSchema, headers={"ETag": {"schema": {"type": "string"}}})
def get_course(code: str) -> Response:
    """One course, with an ETag."""
    course = course_by_code(code) if len(code) <= 40 else None
    caller = api_caller()
    if course is None or caller is None or not caller.can_view_course(course):
        abort(404)
    response = jsonify(CourseSchema().dump(course_body(course)))
    response.headers["ETag"] = make_etag("course", course.code, course.version, course.content_hash, course.status)
    return response


@bp.route("/sessions", methods=["GET"])
@api_token("read")
@bp.arguments(SessionQuerySchema, location="query", as_kwargs=True)
@bp.response(200, SessionPageSchema)
def list_sessions(limit: int, cursor: str | None = None, course: str | None = None) -> dict[str, Any]:
    """Sessions still to start that anyone may enrol in, soonest first, with seats left and the
    waitlist's length; `course` narrows them to one course."""
    position = decode_keyset_cursor(cursor, "starts_at", datetime)
    course_id = None
    if course is not None:
        found = course_row_by_code(course)
        caller = api_caller()
        if found is None or caller is None or not caller.can_view_course(found):
            abort(404, description=_("There is no such course."))
        course_id = found.id
    sessions = upcoming_sessions_page(course_id, position, limit + 1)
    more = len(sessions) > limit
    page = sessions[:limit]
    waiting = waitlist_lengths([s.id for s in page])
    last = page[-1] if more else None
    return {"items": [session_body(s, waiting.get(s.id, 0)) for s in page],
            "links": {"next": next_link({"starts_at": last.starts_at.isoformat(), "id": last.id} if last else None,
                                        limit, course=course)}}
