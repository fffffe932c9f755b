"""One log line per request (time, request id, user id, method, endpoint, status, duration, SQL
statement count), the same duration in the request histogram (app/web/metrics.py), and the
request id sent back as `X-Request-ID` and shown on error pages, so a person's "お問い合わせ番号"
leads an operator to the line.

A request id from the proxy is kept when it looks like one (nginx's `$request_id`, a UUID); anything
else is replaced, so a client cannot put text of its choosing into the logs."""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import event

from app.web.metrics import observe_request

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9-]{16,64}")


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def _count_statement(*_args: Any) -> None:
    if has_request_context():
        g.sql_count = g.get("sql_count", 0) + 1


def init_app(app: Flask) -> None:
    event.listen(app.extensions["manabi.engine"], "before_cursor_execute", _count_statement)

    @app.before_request
    def _start() -> None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = offered if _WELL_FORMED_ID.fullmatch(offered) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        user = g.get("_login_user")  # only when the request loaded the user: logging never queries
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        observe_request(request.endpoint, response.status_code, seconds)
        log.info("request", extra={"fields": {
            "request_id": request_id,
            "user_id": getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None,
            "method": request.method,
            "endpoint": request.endpoint,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "sql_count": g.get("sql_count", 0),
        }})
        return response
