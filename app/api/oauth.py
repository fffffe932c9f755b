"""The OAuth 2 token endpoint for system accounts (client credentials, RFC 6749 §4.4), built on
Authlib's AuthorizationServer: POST /api/v1/oauth/token with grant_type=client_credentials and
the client's id and secret (HTTP Basic, or client_id and client_secret in the form). The answer is
an hour-long Bearer token (mnb_..., stored hashed like a personal one) that acts with the
client's system role. Errors are OAuth's own JSON ({"error": "invalid_client"}, RFC 6749 §5.2),
which every OAuth client library understands. Not a browser's endpoint: no session, no CSRF."""
from __future__ import annotations

from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidScopeError, OAuth2Request, grants
from authlib.oauth2.rfc6749.util import scope_to_list
from flask import Blueprint, Flask, current_app
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from markupsafe import Markup

from app.api.clients import CLIENT_SCOPES, TOKEN_LIFETIME, live_client, secret_matches, store_client_token
from app.api.models import ApiClient
from app.api.tokens import new_secret
from app.core.clock import now
from app.core.db import db_session
from app.permissions import public

bp = Blueprint("api_oauth", __name__, url_prefix="/api/v1/oauth")
TOKEN_PATH = "/api/v1/oauth/token"
STANDARD_NAME = Markup('<span lang="en">OAuth 2 client credentials</span>')  # the standard's name, not translated


class _Client(ClientMixin):
    """Authlib's view of an ApiClient: confidential, client credentials only."""

    def __init__(self, row: ApiClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.row.scopes  # no scope asked: all the client has
        allowed = self.row.scope_set
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        """A scope the client was not given is refused (invalid_scope), never silently dropped."""
        asked = set(scope_to_list(self.request.payload.scope) or [])
        if asked - self.request.client.row.scope_set:
            raise InvalidScopeError()


def _query_client(client_id: str) -> _Client | None:
    row = live_client(client_id or "")
    return _Client(row) if row is not None else None


def _generate_token(grant_type: str, client: _Client, user: Any = None, scope: str | None = None,
                    expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
    return {"token_type": "Bearer", "access_token": new_secret(),
            "expires_in": int(TOKEN_LIFETIME.total_seconds()), "scope": client.get_allowed_scope(scope)}


def _save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    store_client_token(request.client.row, token["access_token"], token["scope"], now())
    db_session.commit()


@bp.route("/token", methods=["POST"])
@public
def issue_token() -> ResponseReturnValue:
    server: AuthorizationServer = current_app.extensions["manabi_oauth_server"]
    response: ResponseReturnValue = server.create_token_response()
    db_session.rollback()  # a refused request wrote nothing; an issued token committed in _save_token
    return response


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(CLIENT_SCOPES))
    server = AuthorizationServer()  # one per app: registering grants is not idempotent
    server.init_app(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(_ClientCredentials)
    server.register_token_generator("client_credentials", _generate_token)
    app.extensions["manabi_oauth_server"] = server
    csrf.exempt(bp)
    app.register_blueprint(bp)
