"""The state of the reminder and notification outbox for HR and monitoring: the same figures as the
operator's page (app/ops/operations.py `outbox_health`) and HR's outbox page
(app/reminders/queries.py), read-only, for a person with REMINDERS_MANAGE (HR) or a system account
with the hr role, with the "read" scope.

- GET /api/v1/outbox: how many messages are in each state, how long the oldest message due and not
  yet sent has waited, how many failed for good in the last 24 hours, and when a message last went.
- GET /api/v1/outbox/failures: the messages that failed for good, newest first (cursor paging), with
  the recipient's employee number, never their address: the error a mail server gave may quote the
  address, so it is summarised with every address written "[address]" (the log's rule,
  app/core/log_format.py).

A fixed number of statements whatever the size of the outbox.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import func, select

from app.api.paging import decode_cursor, next_link
from app.api.schemas import PageLinksSchema, PageQuerySchema
from app.core.clock import now
from app.core.db import db_session
from app.core.log_format import redact_addresses
from app.ops.operations import outbox_health
from app.permissions import Permission, api_token
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.queries import outbox_counts, outbox_statement

bp = Blueprint("api_outbox", __name__, url_prefix="/api/v1",
               description="The state of the mail outbox, for HR.")

SUMMARY_LENGTH = 200
_SMTP_CODE = re.compile(r"\((\d{3}),")  # smtplib's errors: "(550, b'...')", refusals "{'addr': (550, b'...')}"


class OutboxCountsSchema(ma.Schema):
    pending = fields.Integer(required=True, metadata={"description": "Waiting for their time (or a retry)."})
    sending = fields.Integer(required=True, metadata={"description": "Claimed by a sender now."})
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True, metadata={"description": "Failed for good after the last retry."})
    skipped = fields.Integer(required=True, metadata={"description": "Found stale at send time, or turned off."})
    void = fields.Integer(required=True, metadata={"description": "Replaced or no longer relevant."})


class OutboxStatusSchema(ma.Schema):
    at = fields.AwareDateTime(required=True, metadata={"description": "When these figures were read."})
    counts = fields.Nested(OutboxCountsSchema, required=True, metadata={"description": "Messages by state."})
    oldest_unsent_age_seconds = fields.Integer(
        required=True, allow_none=True,
        metadata={"description": "How long the oldest message due and not yet sent has waited (a retry "
                                 "waiting out its back-off is not late); null when none is waiting."})
    failed_last_24_hours = fields.Integer(
        required=True, metadata={"description": "Messages that failed for good, their last attempt in the last "
                                                "24 hours."})
    last_sent_at = fields.AwareDateTime(required=True, allow_none=True,
                                        metadata={"description": "When a message last went; null if none ever."})


class OutboxFailureSchema(ma.Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "What the message was about "
                                                                 "(enrolment_confirmed, session_reminder, ...)."})
    recipient_employee_number = fields.String(required=True)
    attempts = fields.Integer(required=True)
    error = fields.String(required=True, metadata={"description": "The error's class (SMTPRecipientsRefused, "
                                                                  "ConnectionRefusedError, ...)."})
    smtp_code = fields.Integer(required=True, allow_none=True,
                               metadata={"description": "The mail server's reply code, when it gave one."})
    error_summary = fields.String(required=True, metadata={
        "description": f"The error as recorded, at most {SUMMARY_LENGTH} characters, every e-mail address "
                       "written [address]."})
    failed_at = fields.AwareDateTime(required=True, allow_none=True,
                                     metadata={"description": "When the last attempt was made."})


class OutboxFailurePageSchema(ma.Schema):
    items = fields.List(fields.Nested(OutboxFailureSchema), required=True)
    links = fields.Nested(PageLinksSchema, required=True)


def _last_sent_at() -> datetime | None:
    """When a message last went (its SMTP server accepted it)."""
    return db_session.scalar(select(func.max(Notification.sent_at)))


def error_parts(last_error: str) -> tuple[str, int | None, str]:
    """A failure's recorded error ("Class: text", app/reminders/delivery.py) as its class, the
    SMTP reply code it carries, and a summary with no address in it."""
    error_class, _sep, _text = last_error.partition(": ")
    code = _SMTP_CODE.search(last_error)
    summary = redact_addresses(last_error)
    if len(summary) > SUMMARY_LENGTH:
        summary = summary[:SUMMARY_LENGTH - 1] + "…"
    return error_class.strip(), int(code.group(1)) if code else None, summary


def failure_body(notification: Notification) -> dict[str, Any]:
    error_class, smtp_code, summary = error_parts(notification.last_error or "")
    return {"id": notification.id, "kind": notification.kind,
            "recipient_employee_number": notification.recipient.employee_number,
            "attempts": notification.attempts, "error": error_class, "smtp_code": smtp_code,
            "error_summary": summary, "failed_at": notification.claimed_at}


@bp.route("/outbox", methods=["GET"])
@api_token("read", Permission.REMINDERS_MANAGE)
@bp.response(200, OutboxStatusSchema)
def outbox_status() -> dict[str, Any]:
    """The outbox's state: messages by state, the age of the oldest message due and not yet sent,
    the failures of the last 24 hours, and when a message last went."""
    at = now()
    health = outbox_health(at)
    counts = {status.value: 0 for status in DeliveryStatus}
    counts.update({status: count for status, count in outbox_counts().items() if status in counts})
    age = health.oldest_due_age
    return {"at": at, "counts": counts,
            "oldest_unsent_age_seconds": int(age.total_seconds()) if age is not None else None,
            "failed_last_24_hours": health.failed_recently, "last_sent_at": _last_sent_at()}


@bp.route("/outbox/failures", methods=["GET"])
@api_token("read", Permission.REMINDERS_MANAGE)
@bp.arguments(PageQuerySchema, location="query", as_kwargs=True)
@bp.response(200, OutboxFailurePageSchema)
def list_failures(limit: int, cursor: str | None = None) -> dict[str, Any]:
    """The messages that failed for good (HR can resend them on the outbox page), newest first."""
    after = decode_cursor(cursor, {"before": int})
    statement = outbox_statement(DeliveryStatus.FAILED.value, "")
    if after is not None:
        statement = statement.where(Notification.id < after["before"])
    failures = list(db_session.scalars(statement.limit(limit + 1)))
    more = len(failures) > limit
    page = failures[:limit]
    return {"items": [failure_body(n) for n in page],
            "links": {"next": next_link({"before": page[-1].id} if more else None, limit)}}
