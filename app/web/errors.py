"""Error pages in the user's language; JSON for API callers. No input may surface a 500 page
with a traceback; a genuine bug still gets a friendly 500 and is logged.

Error pages never need the database, so they render while it is down:
- the language comes from the request alone (the session's choice, Accept-Language; see
  `app.web.locale.select_locale`), never from loading the signed-in user;
- the page extends the layout without its navigation, unread count or name (all database data).
A database that cannot answer (not running, unreachable, pool exhausted, SQLite file gone or
locked) is not a bug: any request that meets it answers 503 "temporarily unavailable" with
Retry-After, in testing too, and the failed connection is discarded so that the next request
connects afresh: pages recover by themselves when the database is back.
"""
from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool
from werkzeug.exceptions import HTTPException

from app.core.db import db_session
from app.web.locale import choose_locale_without_database
from app.web.locale import gettext as _
from app.web.request_log import current_request_id

RETRY_AFTER_SECONDS = 30  # what a 503 asks clients (and the load balancer) to wait

# SQLite's primary result codes that mean "the database cannot answer now", not "the SQL is wrong".
_SQLITE_UNAVAILABLE = frozenset({
    5,  # SQLITE_BUSY ("database is locked" after the busy timeout)
    6,  # SQLITE_LOCKED
    7,  # SQLITE_NOMEM
    8,  # SQLITE_READONLY (the file or its directory is not writable)
    10,  # SQLITE_IOERR
    11,  # SQLITE_CORRUPT
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN ("unable to open database file")
    15,  # SQLITE_PROTOCOL
    26,  # SQLITE_NOTADB
})


def is_database_unavailable(error: BaseException) -> bool:
    """True if `error`, or what it was raised from, says the database cannot answer now (an
    outage), not that the code is wrong."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if _is_outage(current):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True  # the pool is exhausted, or a connection was found dead
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True  # the dialect recognised a lost connection
    if type(error.orig).__module__ == "sqlite3":
        # Wrong SQL and missing tables are SQLITE_ERROR (1) on SQLite: bugs, which testing re-raises.
        code = getattr(error.orig, "sqlite_errorcode", None)
        return isinstance(error, sa_exc.OperationalError) and code is not None and code & 0xFF in _SQLITE_UNAVAILABLE
    # PostgreSQL: cannot connect, shut down, connection lost, serialization failure or deadlock,
    # out of resources are OperationalError; a broken link is InterfaceError. Wrong SQL is a
    # ProgrammingError there, a violated constraint an IntegrityError: not outages.
    return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError))


def discard_failed_connection() -> None:
    """End the request's database work after a failure, never raising, and drop its connection
    so the pool does not hand out a connection that failed (pre-ping also checks on PostgreSQL).

    The test suite binds the session to one connection inside an outer transaction, and an
    in-memory SQLite database lives only as long as its single connection: both are rolled
    back, never thrown away.
    """
    bind = current_app.extensions["manabi.bind"]
    disposable = isinstance(bind, Engine) and not isinstance(bind.pool, StaticPool)
    try:
        if disposable:
            db_session().invalidate()
        else:
            db_session.rollback()
    except Exception:
        current_app.logger.debug("ignored an error while discarding a failed connection", exc_info=True)
        try:
            db_session.close()
        except Exception:
            current_app.logger.debug("ignored an error while closing a failed session", exc_info=True)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        403: _("You do not have permission to open this page."),
        404: _("The page was not found."),
        405: _("This action is not allowed here."),
        413: _("The upload is too large."),
        429: _("Too many attempts. Please wait and try again."),
        500: _("Something went wrong on our side. Please try again later."),
        503: _("The service is temporarily unavailable. Please try again in a few minutes."),
    }


def render_error(code: int, message: str | None = None) -> ResponseReturnValue:
    """The error page (or JSON) for `code`; it reads nothing from the database. A caller that
    translates its own `message` calls `choose_locale_without_database()` before `_()`."""
    choose_locale_without_database()
    text = message or _messages().get(code, _("Something went wrong."))
    if _wants_json():
        response = jsonify(error=text, status=code, request_id=current_request_id())
    else:
        response = current_app.make_response(render_template("errors/error.html", code=code, message=text,
                                                             request_id=current_request_id()))
    response.status_code = code
    if code == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def database_unavailable(error: BaseException) -> ResponseReturnValue:
    """The answer to a request that met a database outage: 503 in the user's language."""
    discard_failed_connection()
    current_app.logger.warning("Database unavailable on %s %s: %s", request.method, request.path,
                               _first_line(error))
    return render_error(503)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError) -> ResponseReturnValue:
        choose_locale_without_database()  # before the first _(): it picks the language
        return render_error(
            400, _("The form had expired or was not sent from this site. Please reload the page and try again.")
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> ResponseReturnValue:
        if error.code is None or error.code < 400:
            return error
        return render_error(error.code)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        if is_database_unavailable(error):
            return database_unavailable(error)  # an outage, not a bug: even tests get the 503 page
        try:
            db_session.rollback()
        except Exception:
            discard_failed_connection()
        if app.testing:
            raise error  # a test must see the bug, not a friendly page
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)
