"""The versioned JSON API under /api/v1 (flask-smorest, OpenAPI 3.1): an edge like the views, it
calls the same services and queries, and every endpoint is judged by app/permissions.py.

- `ManabiApi` is smorest's Api with two changes: it registers NO app-wide error handler (smorest's
  would answer every HTML page's 404 in JSON), and its documented error responses are problem
  details (application/problem+json). Each API blueprint has its own handlers (below), and
  app/api/errors.py answers routing 404/405 under /api/v1 only.
- Authentication is a Bearer token only (app/api/auth.py); the blueprints are exempt from CSRF
  because a browser's session cookie is never read by them.
- smorest's own doc blueprint (and its CDN-loaded UIs) is off: app/api/docs.py serves the
  document and a reference page.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask
from flask.typing import ResponseReturnValue
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from flask_smorest.utils import prepare_response
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from app.api import (
    approvals,
    attendance,
    auth,
    catalog,
    client_views,
    completions,
    docs,
    enrolments,
    errors,
    me,
    oauth,
    outbox,
    staff,
    token_views,
)
from app.api.schemas import ProblemSchema
from app.web.ids import ID_MAX, IdConverter

RESOURCES: tuple[ApiBlueprint, ...] = (me.bp, catalog.bp, enrolments.bp, approvals.bp, attendance.bp, completions.bp,
                                        staff.bp, outbox.bp)


class ManabiApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        """Nothing app-wide: the API's blueprints have their own handlers."""

    def _register_responses(self) -> None:
        """Every status's documented error body is a problem (RFC 9457), as errors.py sends it."""
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default: dict[str, Any] = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, errors.PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def _refused(error: HTTPException) -> ResponseReturnValue:
    auth.keep_count_of_refused_request()
    return errors.handle_http_exception(error)


for _blueprint in RESOURCES:  # once, at import: every app made from the factory registers them as they are
    _blueprint.before_request(auth.authenticate)
    _blueprint.after_request(auth.add_rate_limit_headers)
    # NotFound and MethodNotAllowed by name too: errors.init_app registers app-wide handlers for
    # those two (routing errors under /api/v1), which Flask would otherwise prefer to these.
    for _refusal in (HTTPException, NotFound, MethodNotAllowed):
        _blueprint.register_error_handler(_refusal, _refused)
    _blueprint.register_error_handler(Exception, errors.handle_unexpected)


def init_app(app: Flask, csrf: CSRFProtect) -> ManabiApi:
    app.config.setdefault("API_TITLE", "Manabi API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": "Training catalog and enrolments of Manabi. Authenticate with a personal "
                                "access token: `Authorization: Bearer mnb_...` (made on the account page)."},
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "A personal access token (mnb_...), or a system account's access token."},
            "clientCredentials": {"type": "oauth2", "description": "A system account (an OAuth 2 client registered "
                                  "by an administrator) gets an hour-long Bearer token with its id and secret.",
                                  "flows": {"clientCredentials": {"tokenUrl": oauth.TOKEN_PATH, "scopes": {
                                      "read": "Read what the account's role may see.",
                                      "staff": "Update staff and placements."}}}}}},
        "security": [{"bearerAuth": []}, {"clientCredentials": []}],
    })
    app.config["OPENAPI_URL_PREFIX"] = None  # no smorest doc blueprint: app/api/docs.py serves the document
    api = ManabiApi(app)
    api.register_converter(IdConverter, lambda _converter: {"type": "integer", "minimum": 1, "maximum": ID_MAX})
    for blueprint in RESOURCES:
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
    app.register_blueprint(docs.bp)
    app.register_blueprint(token_views.bp)
    app.register_blueprint(client_views.bp)
    oauth.init_app(app, csrf)
    errors.init_app(app)
    return api
