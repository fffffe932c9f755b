"""A real OpenID Connect provider for tests, built on Authlib's server parts (AuthorizationServer,
the authorization code grant with OpenIDCode and a PKCE CodeChallenge that insists on S256, an
RP-initiated EndSessionEndpoint), with its own RS256 key (joserfc), JWKS, discovery document and
userinfo. It runs in a thread on 127.0.0.1 with a cookie of its own name (a browser keeps cookies
per host, not per port: two cookies named "session" would overwrite each other).

People sign in at it without a form: the first /authorize of a browser signs it in as
`provider.next_user` (the provider's cookie remembers them until its end-session endpoint) and
consent is given at once. `Knobs` make it misbehave the ways a test needs: refuse consent, put
another nonce, issuer or expiry in the ID token, sign it with a key it does not publish, or fail
at the token endpoint.

    with running_provider() as provider:
        provider.register_client("manabi", "secret", redirect_uris=[...], post_logout_redirect_uris=[...])
        provider.discovery_url  # http://127.0.0.1:PORT/.well-known/openid-configuration
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, jsonify, request, session
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import BaseWSGIServer, make_server

COOKIE_NAME = "test_op_session"
KEY_ID = "test-op-key-1"


@dataclass(frozen=True)
class ProviderUser:
    sub: str
    email: str
    employee_number: str
    name: str = "試験 太郎"
    email_verified: bool = True


@dataclass
class Knobs:
    """Ways to misbehave, all off by default (reset for each test)."""

    deny_consent: bool = False
    wrong_nonce: bool = False
    expired_token: bool = False
    other_key: bool = False  # signed with a key that is not in the JWKS (under the published kid)
    wrong_issuer: bool = False  # "iss" with a trailing slash: one character off
    wrong_audience: bool = False
    token_endpoint_down: bool = False  # 503 with an HTML body from /token
    employee_number_in_userinfo_only: bool = False
    groups_in_id_token: int = 0  # that many group ids in the ID token (Entra ID sends up to 200)


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scope: str = "openid email profile"

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": self.post_logout_redirect_uris}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    user: ProviderUser
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Provider:
    """The running provider: its address, its people, its clients, its knobs, and what happened."""

    issuer: str
    keys: tuple[RSAKey, RSAKey]  # (published, other)
    users: dict[str, ProviderUser] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    access_tokens: dict[str, ProviderUser] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    knobs: Knobs = field(default_factory=Knobs)
    next_user: str | None = None  # sub of whoever signs in at the next /authorize without a cookie
    end_session_requests: list[dict[str, str]] = field(default_factory=list)
    codes_redeemed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def add_user(self, user: ProviderUser) -> ProviderUser:
        self.users[user.sub] = user
        return user

    def register_client(self, client_id: str, client_secret: str, *, redirect_uris: list[str],
                        post_logout_redirect_uris: list[str]) -> Client:
        client = Client(client_id, client_secret, redirect_uris, post_logout_redirect_uris)
        self.clients[client_id] = client
        return client

    def reset(self) -> None:
        with self.lock:
            self.knobs = Knobs()
            self.next_user = None
            self.end_session_requests.clear()
            self.codes.clear()
            self.access_tokens.clear()
            self.codes_redeemed = 0

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/jwks",
            "end_session_endpoint": self.issuer + "/end-session",
            "scopes_supported": ["openid", "email", "profile"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name",
                                 "employee_number"],
        }

    def claims_of(self, user: ProviderUser, scope: str, *, for_userinfo: bool) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": user.sub}
        scopes = scope.split()
        if "email" in scopes:
            claims.update(email=user.email, email_verified=user.email_verified)
        if "profile" in scopes:
            claims["name"] = user.name
        if for_userinfo or not self.knobs.employee_number_in_userinfo_only:
            claims["employee_number"] = user.employee_number
        if not for_userinfo and self.knobs.groups_in_id_token:
            claims["groups"] = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"group-{n}"))  # as random as real ones
                                for n in range(self.knobs.groups_in_id_token)]
        return claims


class S256Only(CodeChallenge):
    """PKCE required of every client (Authlib's `required=True` forces it on public clients only),
    and only the S256 method."""

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


def _build_app(provider: Provider) -> Flask:
    app = Flask("test_oidc_provider")
    app.config.update(SECRET_KEY=secrets.token_hex(16), SESSION_COOKIE_NAME=COOKIE_NAME)
    published, other = provider.keys

    class CodeGrant(AuthorizationCodeGrant):
        def save_authorization_code(self, code: str, req: OAuth2Request) -> None:
            data = req.payload.data
            with provider.lock:
                provider.codes[code] = Code(
                    code=code, client_id=req.client.client_id, redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope, nonce=data.get("nonce"), user=req.user,
                    code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
                    auth_time=int(time.time()))
                if data.get("nonce"):
                    provider.nonces.add(data["nonce"])

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = provider.codes.get(code)
            return found if found is not None and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            with provider.lock:  # a code is good once: a replay finds nothing (invalid_grant)
                provider.codes.pop(authorization_code.code, None)
                provider.codes_redeemed += 1

        def authenticate_user(self, authorization_code: Code) -> ProviderUser:
            return authorization_code.user

    class IdTokens(OpenIDCode):
        def exists_nonce(self, nonce: str, req: OAuth2Request) -> bool:
            return nonce in provider.nonces  # a nonce that already has a code (asked again before issuing one)

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return other if provider.knobs.other_key else published

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": KEY_ID}

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            now = int(time.time())
            knobs = provider.knobs
            issued = now - 7200 if knobs.expired_token else now
            return {"iss": provider.issuer + ("/" if knobs.wrong_issuer else ""),
                    "aud": ["someone-else" if knobs.wrong_audience else client.client_id],
                    "iat": issued, "exp": issued + 600}

        def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
            claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
            if provider.knobs.wrong_nonce:
                claims["nonce"] = "a-nonce-this-client-never-sent"
            return claims

        def generate_user_info(self, user: ProviderUser, scope: str) -> UserInfo:
            return UserInfo(provider.claims_of(user, scope, for_userinfo=False))

    class EndSession(EndSessionEndpoint):
        def get_server_jwks(self) -> KeySet:
            return KeySet([published])

        def end_session(self, end_session_request: Any) -> None:
            session.pop("sub", None)

    def save_token(token: dict[str, Any], req: OAuth2Request) -> None:
        with provider.lock:
            provider.access_tokens[token["access_token"]] = req.user

    server = AuthorizationServer(app, query_client=provider.clients.get, save_token=save_token)
    server.register_grant(CodeGrant, [S256Only(required=True), IdTokens(require_nonce=True)])
    server.register_endpoint(EndSession)

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        return jsonify(provider.metadata())

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify(KeySet([published]).as_dict(private=False))

    @app.get("/authorize")
    def authorize() -> Any:
        sub = session.get("sub") or provider.next_user
        user = provider.users.get(sub or "")
        if user is not None:
            session["sub"] = user.sub  # signed in at the provider until its end-session endpoint
        try:
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        granted = None if provider.knobs.deny_consent else user
        return server.create_authorization_response(grant_user=granted, grant=grant)

    @app.post("/token")
    def token() -> Any:
        if provider.knobs.token_endpoint_down:
            return "<html><body>503 Service Unavailable</body></html>", 503, {"Content-Type": "text/html"}
        return server.create_token_response()

    @app.get("/userinfo")
    def userinfo() -> Any:
        header = request.headers.get("Authorization", "")
        user = provider.access_tokens.get(header.removeprefix("Bearer ").strip())
        if not header.startswith("Bearer ") or user is None:
            return jsonify(error="invalid_token"), 401
        return jsonify(provider.claims_of(user, "openid email profile", for_userinfo=True))

    @app.route("/end-session", methods=["GET", "POST"])
    def end_session() -> Any:
        provider.end_session_requests.append(request.values.to_dict())
        try:
            response = server.create_endpoint_response("end_session")
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        return response or ("You have been signed out of the test provider.", 200)

    return app


_KEYS: tuple[RSAKey, RSAKey] | None = None


def _keys() -> tuple[RSAKey, RSAKey]:
    """Two RSA keys under the same kid, made once per test run (~0.1 s each)."""
    global _KEYS
    if _KEYS is None:
        params = {"kid": KEY_ID, "use": "sig", "alg": "RS256"}
        _KEYS = (RSAKey.generate_key(2048, parameters=params), RSAKey.generate_key(2048, parameters=params))
    return _KEYS


@contextmanager
def running_provider() -> Iterator[Provider]:
    """Start the provider on a free port of 127.0.0.1; stop it afterwards."""
    apps: list[Flask] = []  # the app needs the issuer, which needs the port

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return apps[0](environ, start_response)

    server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi, threaded=True)
    provider = Provider(issuer=f"http://127.0.0.1:{server.server_port}", keys=_keys())
    OpenIDProviderMetadata(provider.metadata()).validate()  # a well-formed discovery document
    apps.append(_build_app(provider))
    thread = threading.Thread(target=server.serve_forever, name="test-oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
