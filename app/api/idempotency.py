"""Idempotency keys for POSTs that create (`Idempotency-Key` header), kept per holder for a day
(a personal token, or a system account across its hourly tokens: `ApiToken.holder`).

The first request with a key claims it (a row, in the same transaction as the change) and stores
its answer; the same key with the same request (method, path, body) replays that answer with
`Idempotent-Replayed: true`; the same key with another request is a 422. Two requests racing with
one key: the database's unique (holder, key) makes the second wait for the first and then replay
its answer (PostgreSQL), or run after it (SQLite takes the write lock first).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from flask import Response, current_app, request
from flask import abort as http_abort
from flask_smorest import abort
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.api.errors import PROBLEM_MIMETYPE
from app.api.models import ApiIdempotencyKey
from app.core.clock import now
from app.core.db import db_session
from app.web.locale import gettext as _

KEPT_FOR = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"


def request_fingerprint() -> str:
    """SHA-256 of the method, the path and the body (JSON compared by value, key order aside)."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode() if raw.strip() else b""
    except ValueError:
        body = raw
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + body).hexdigest()


def _refuse_other_request() -> None:
    abort(422, errors={"headers": {"Idempotency-Key": [
        _("This key was used for a different request in the last 24 hours: use a new key.")]}})


def _holder(holder: str | int) -> str:
    return holder if isinstance(holder, str) else f"token:{holder}"


def replay_if_known(holder: str | int, key: str, fingerprint: str, current: datetime) -> Response | None:
    """The stored answer for this key, if it was used in the last day for the same request."""
    found = db_session.scalar(select(ApiIdempotencyKey).where(
        ApiIdempotencyKey.holder == _holder(holder), ApiIdempotencyKey.key == key,
        ApiIdempotencyKey.created_at > current - KEPT_FOR))
    if found is None:
        return None
    if found.request_hash != fingerprint:
        _refuse_other_request()
    response = current_app.response_class(found.response_body, status=found.status_code,
                                          mimetype=PROBLEM_MIMETYPE if found.status_code >= 400 else "application/json")
    if found.location:
        response.headers["Location"] = found.location
    response.headers[REPLAYED_HEADER] = "true"
    return response


def claim(holder: str | int, key: str, fingerprint: str, current: datetime) -> ApiIdempotencyKey | None:
    """Claim the key for this request in the caller's transaction (after dropping the holder's
    expired keys); None if another request holds it (roll back and replay theirs)."""
    holder = _holder(holder)
    db_session.execute(delete(ApiIdempotencyKey).where(ApiIdempotencyKey.holder == holder,
                                                       ApiIdempotencyKey.created_at <= current - KEPT_FOR))
    row = ApiIdempotencyKey(holder=holder, key=key, request_hash=fingerprint, status_code=0, response_body="",
                            location="", created_at=current)
    try:
        with db_session.begin_nested():
            db_session.add(row)
            db_session.flush()
    except IntegrityError:
        return None
    return row


def remember(row: ApiIdempotencyKey, response: Response) -> None:
    """Store the answer with the claimed key (the caller commits both with the change)."""
    row.status_code = response.status_code
    row.response_body = response.get_data(as_text=True)
    row.location = response.headers.get("Location", "")[:300]
    db_session.flush()


def replay_or_claim(holder: str, key: str | None) -> tuple[Response | None, ApiIdempotencyKey | None]:
    """The start of a POST that may carry an Idempotency-Key. No key: (None, None). A key already
    answered for this request: (that answer, None), the request's count committed
    (app/api/auth.py): return it as it is. Otherwise the key claimed for this request:
    (None, row), for `remember` once answered; 409 while another request holds it unanswered."""
    if key is None:
        return None, None
    fingerprint = request_fingerprint()
    replayed = replay_if_known(holder, key, fingerprint, now())
    row = None
    if replayed is None:
        row = claim(holder, key, fingerprint, now())
        if row is None:  # a request with this key committed meanwhile: answer what it answered
            replayed = replay_if_known(holder, key, fingerprint, now())
    if replayed is not None:
        db_session.commit()
        return replayed, None
    if row is None:
        http_abort(409)
    return None, row
