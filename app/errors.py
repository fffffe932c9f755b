"""Error pages in the user's language; JSON for API callers. No input may surface a 500 page
with a traceback; a genuine bug still gets a friendly 500 and is logged."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.db import db_session


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
    }


def render_error(code: int, message: str | None = None):  # type: ignore[no-untyped-def]
    text = message or _messages().get(code, _("Something went wrong."))
    if _wants_json():
        return jsonify(error=text, status=code), code
    return render_template("errors/error.html", code=code, message=text), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):  # type: ignore[no-untyped-def]
        return render_error(
            400, _("The form had expired or was not sent from this site. Please reload the page and try again.")
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        if error.code is None or error.code < 400:
            return error
        return render_error(error.code)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):  # type: ignore[no-untyped-def]
        db_session.rollback()
        if app.testing:
            raise error  # a test must see the bug, not a friendly page
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)
