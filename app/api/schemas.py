"""The API's request and response shapes (marshmallow): the OpenAPI document is made from these."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
_CODE = validate.Length(min=1, max=40)


class PageQuerySchema(ma.Schema):
    cursor = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,200}$"),
                           metadata={"description": "Opaque: the `next` of the previous page."})
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT),
                           metadata={"description": f"Items per page, 1 to {MAX_LIMIT}."})


class SessionQuerySchema(PageQuerySchema):
    course = fields.String(validate=_CODE,
                           metadata={"description": "Only the sessions of this course (its code)."})


class ProblemFieldSchema(ma.Schema):
    field = fields.String(required=True, metadata={"description": "The field that failed."})
    in_ = fields.String(data_key="in", required=True, metadata={"description": "query, json, path or headers."})
    message = fields.String(required=True)


class ProblemSchema(ma.Schema):
    """Problem details (RFC 9457)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.List(fields.Nested(ProblemFieldSchema), metadata={"description": "The fields that failed."})


class PageLinksSchema(ma.Schema):
    next = fields.String(allow_none=True, required=True,
                         metadata={"description": "URL of the next page; null on the last page."})


class CourseSchema(ma.Schema):
    code = fields.String(required=True)
    title_ja = fields.String(required=True)
    title_en = fields.String(required=True)
    kind = fields.String(required=True)
    track = fields.String(required=True)
    theme = fields.String(required=True)
    delivery_format = fields.String(required=True)
    hours = fields.Float(required=True)
    fiscal_year = fields.Integer(required=True)
    version = fields.Integer(required=True)
    target_grades = fields.List(fields.String(), required=True, metadata={"description": "Grade codes."})


class CoursePageSchema(ma.Schema):
    items = fields.List(fields.Nested(CourseSchema), required=True)
    links = fields.Nested(PageLinksSchema, required=True)


class SessionSchema(ma.Schema):
    id = fields.Integer(required=True)
    course_code = fields.String(required=True)
    label = fields.String(required=True)
    location = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    enrolment_opens_at = fields.AwareDateTime(required=True)
    enrolment_closes_at = fields.AwareDateTime(required=True)
    cancellation_deadline_at = fields.AwareDateTime(required=True)
    approval_policy = fields.String(required=True)
    capacity = fields.Integer(required=True)
    seats_left = fields.Integer(required=True)
    waitlist_length = fields.Integer(required=True, metadata={"description": "Live requests waiting for a seat."})


class SessionPageSchema(ma.Schema):
    items = fields.List(fields.Nested(SessionSchema), required=True)
    links = fields.Nested(PageLinksSchema, required=True)


class EnrolmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    session_id = fields.Integer(required=True)
    course_code = fields.String(required=True)
    state = fields.String(required=True,
                          metadata={"description": "pending, confirmed, waitlisted, cancelled, declined"})
    holds_seat = fields.Boolean(required=True)
    approval_stage = fields.String(required=True)
    waitlist_position = fields.Integer(required=True, allow_none=True,
                                       metadata={"description": "1 is next; null when not waiting."})
    requested_at = fields.AwareDateTime(required=True)
    starts_at = fields.AwareDateTime(required=True)
    cancellation_deadline_at = fields.AwareDateTime(required=True)


class EnrolmentPageSchema(ma.Schema):
    items = fields.List(fields.Nested(EnrolmentSchema), required=True)
    links = fields.Nested(PageLinksSchema, required=True)


class IdempotencyHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # every other header of the request

    idempotency_key = fields.String(data_key="Idempotency-Key",
                                    validate=validate.Length(min=1, max=200),
                                    metadata={"description": "The same key with the same request replays the "
                                                             "first answer (kept 24 hours per token)."})


class IfMatchHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    if_match = fields.String(data_key="If-Match", required=True, validate=validate.Length(min=1, max=200),
                             metadata={"description": "The ETag of the enrolment as you read it."})

