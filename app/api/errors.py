"""Errors of the API as problem details (RFC 9457), `application/problem+json`:

    {"type": ".../api/v1/docs#problem-422", "title": "Unprocessable Content", "status": 422,
     "detail": "...", "errors": [{"field": "limit", "in": "query", "message": "..."}]}

Only the API's own requests answer so: its blueprint's handlers for what its views raise, and
`answer_routing_error` for a 404 or 405 under /api/v1 that no view saw. Every other page keeps
the HTML error pages of app/web/errors.py.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from app.api.schemas import ProblemSchema
from app.core.db import db_session
from app.web import errors as web_errors
from app.web.locale import choose_locale_without_database
from app.web.locale import gettext as _

PROBLEM_MIMETYPE = "application/problem+json"
API_PREFIX = "/api/v1"
PROBLEM_STATUSES = (400, 401, 403, 404, 405, 409, 412, 422, 428, 429, 500, 503)


def problem_type(status: int) -> str:
    """A URI naming the kind of problem: its section of the reference page."""
    return url_for("api.docs") + f"#problem-{status}"  # a relative reference (RFC 9457 3.1.1)


def problem_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_details(code: Callable[[str], str] = str) -> dict[int, str]:
    """What each problem means, in the request's language; `code` marks the names of headers
    (the reference page sets them as code)."""
    if_match, etag = code("If-Match"), code("ETag")
    return {
        400: _("The request could not be understood."),
        401: _("A valid API token is required: send it in the %(header)s header.",
               header=code("Authorization: Bearer mnb_…")),
        403: _("This token may not do this."),
        404: _("There is no such resource."),
        405: _("This method is not allowed on this resource."),
        409: _("The request conflicts with the current state of the resource."),
        412: _("The resource has changed since you read it (%(header)s).", header=if_match),
        422: _("Some fields are not valid."),
        428: _("Send %(if_match)s with the %(etag)s you read, so that a stale change is refused.",
               if_match=if_match, etag=etag),
        429: _("Too many requests for this token. Please wait and try again."),
        500: _("Something went wrong on our side. Please try again later."),
        503: _("The service is temporarily unavailable. Please try again in a few minutes."),
    }


def problem(status: int, detail: str | None = None, *, errors: list[dict[str, str]] | None = None,
            headers: Mapping[str, str] | None = None) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {"type": problem_type(status), "title": problem_title(status), "status": status,
                            "detail": detail or problem_details().get(status, problem_title(status))}
    if errors:
        body["errors"] = errors
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), status=status,
                                          mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="manabi"'
    if status == 503:
        response.headers["Retry-After"] = str(web_errors.RETRY_AFTER_SECONDS)
    return response


def field_errors(messages: Any, location: str = "", prefix: str = "") -> Iterator[dict[str, str]]:
    """webargs' {"query": {"limit": ["..."]}} as [{"field": "limit", "in": "query", "message": "..."}]."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if not location and key in ("query", "json", "headers", "path", "form", "view_args"):
                yield from field_errors(value, str(key), prefix)
            else:
                yield from field_errors(value, location, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(messages, list | tuple):
        for message in messages:
            yield from field_errors(message, location, prefix)
    else:
        yield {"field": prefix or "_", "in": location or "body", "message": str(messages)}


def _http_problem(error: HTTPException) -> Response:
    choose_locale_without_database()
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = list(field_errors(data.get("errors") or data.get("messages") or {}))
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    default = error.description if error.description != type(error).description else None
    return problem(status, data.get("message") or default, errors=errors, headers=headers)


def handle_http_exception(error: HTTPException) -> ResponseReturnValue:
    if error.code is None or error.code < 400:
        return error
    return _http_problem(error)


def handle_unexpected(error: Exception) -> ResponseReturnValue:
    """A bug or an outage in an API request: 503 for the outage, else a logged 500 (tests see it)."""
    if web_errors.is_database_unavailable(error):
        web_errors.database_unavailable(error)  # logged and the connection discarded, as for a page
        choose_locale_without_database()
        return problem(503)
    try:
        db_session.rollback()
    except Exception:
        web_errors.discard_failed_connection()
    if current_app.testing:
        raise error
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    choose_locale_without_database()
    return problem(500)


def _resource_missing_or(error: HTTPException) -> HTTPException:
    """A 405 for a path no method can reach is a 404. (One path served by two rules, GET and
    DELETE /me/enrolments/<id>: with an id the converter refuses, werkzeug reports the other
    rule's method as allowed.)"""
    if not isinstance(error, MethodNotAllowed) or not error.valid_methods:
        return error
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        adapter.match(method=sorted(error.valid_methods)[0])
    except NotFound as missing:
        return missing
    except HTTPException:
        pass
    return error


def init_app(app: Flask) -> None:
    """A 404 or 405 that routing raised (no view, so no blueprint handler) under /api/v1 is a
    problem too; anywhere else it is the web's HTML page, exactly as app/web/errors.py answers."""

    def answer_routing_error(error: HTTPException) -> ResponseReturnValue:
        if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
            return _http_problem(_resource_missing_or(error))
        return web_errors.render_error(error.code or 500)

    app.register_error_handler(NotFound, answer_routing_error)
    app.register_error_handler(MethodNotAllowed, answer_routing_error)


def problem_doc(description: str) -> dict[str, Any]:
    """The documentation of a problem answer, for `@bp.alt_response(status, **problem_doc(...))`."""
    return {"schema": ProblemSchema, "content_type": PROBLEM_MIMETYPE, "description": description}
