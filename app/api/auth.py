"""Who calls the API: "Authorization: Bearer mnb_..." and nothing else.

A browser's session cookie is never read here (and the language comes from the request alone),
so a page on another site cannot make a signed-in browser write through the API: the blueprint is
exempt from CSRF because it accepts no ambient credential at all.

Each request with a token counts against its holder's budget per minute, API_RATE_LIMIT_PER_MINUTE
(a personal token's own; a system account's, shared by its hourly tokens), in `api_rate_windows`:
one atomic upsert, INSERT ... ON CONFLICT DO UPDATE ... RETURNING the count, so every gunicorn
worker counts the same. The first request of a minute also notes the token's `last_used_at` and
drops the holder's older windows. When the count commits:
- a read (GET, HEAD) commits it at once, so that the read itself holds no write lock (SQLite);
- a write keeps it in its own transaction (one connection for the whole request, which matters
  when a crowd enrols at once): the view commits it with its change, and a refused write (any
  4xx after the count) rolls back and counts again (`keep_count_of_refused_request`). Views
  therefore commit on every path that answers normally and never refuse after committing.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil

from flask import Response, current_app, g, request
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from werkzeug.exceptions import TooManyRequests, Unauthorized

from app.api.models import ApiRateWindow, ApiToken
from app.api.tokens import usable_token
from app.core.clock import now
from app.core.db import SAFE_METHODS, begin_write_transaction, db_session
from app.permissions import ApiCaller, api_caller, remember_api_caller
from app.web.locale import choose_locale_without_database

WINDOW = timedelta(minutes=1)
_BUDGET_KEY = "_manabi_api_budget"  # on g: (limit, remaining, seconds to the next window) of this request


def count_request(holder: str, token_id: int, current: datetime) -> int:
    """Count one request of the holder in the current minute; returns the minute's count so far."""
    window = current.replace(second=0, microsecond=0)
    insert = postgresql_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ApiRateWindow).values(holder=holder, window_started_at=window, requests=1)
    counted = db_session.scalar(statement.on_conflict_do_update(
        index_elements=[ApiRateWindow.holder, ApiRateWindow.window_started_at],
        set_={"requests": ApiRateWindow.requests + 1}).returning(ApiRateWindow.requests)) or 1
    if counted == 1:
        db_session.execute(delete(ApiRateWindow).where(ApiRateWindow.holder == holder,
                                                       ApiRateWindow.window_started_at < window))
        db_session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=current)
                           .execution_options(synchronize_session=False))
    return counted


def authenticate() -> None:
    """Before every API view: read the token, count the request, remember the caller. No header:
    no caller (a public endpoint answers; a protected one says 401 through `api_token`)."""
    choose_locale_without_database()  # never load the cookie's user, not even for the language
    header = request.headers.get("Authorization")
    if header is None:
        return
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized()
    begin_write_transaction()  # SQLite: the counter is written in this transaction, take the lock first
    current = now()
    token = usable_token(secret.strip(), current)
    if token is None:
        db_session.rollback()
        raise Unauthorized()
    counted = count_request(token.holder, token.id, current)
    limit = current_app.config["API_RATE_LIMIT_PER_MINUTE"]
    if request.method in SAFE_METHODS or counted > limit:
        db_session.commit()
    wait = _note_budget(limit, counted, current)
    if counted > limit:
        raise TooManyRequests(retry_after=wait)
    client = token.client
    remember_api_caller(ApiCaller(token.employee, token.id, token.scope_set, holder=token.holder,
                                  expires_at=token.expires_at,
                                  system_role=client.role if client is not None else None,
                                  system_name=client.name if client is not None else ""))


def _note_budget(limit: int, counted: int, current: datetime) -> int:
    """Keep what the RateLimit-* headers of this answer say; returns the seconds to the next window."""
    window_end = current.replace(second=0, microsecond=0) + WINDOW
    wait = max(1, ceil((window_end - current).total_seconds()))
    setattr(g, _BUDGET_KEY, (limit, max(0, limit - counted), wait))
    return wait


def add_rate_limit_headers(response: Response) -> Response:
    """After every API answer to a token: its budget, as RateLimit-Limit, RateLimit-Remaining and
    RateLimit-Reset (seconds) of the IETF draft (draft-ietf-httpapi-ratelimit-headers), so a client
    can slow down before it is refused."""
    budget = g.get(_BUDGET_KEY)
    if budget is not None:
        limit, remaining, reset = budget
        response.headers["RateLimit-Limit"] = str(limit)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
    return response


def keep_count_of_refused_request() -> None:
    """A write refused after it was counted (422, 404, 409, 412 ...): its transaction is undone, the
    count made again and committed, so refusals use up the budget like anything else."""
    caller = api_caller()
    if caller is None or request.method in SAFE_METHODS:
        return
    db_session.rollback()
    current = now()
    counted = count_request(caller.holder, caller.token_id, current)
    db_session.commit()
    _note_budget(current_app.config["API_RATE_LIMIT_PER_MINUTE"], counted, current)
