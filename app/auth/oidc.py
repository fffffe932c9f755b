"""Sign-in through OpenID Connect providers (the prefecture's Entra ID or Keycloak), with
Authlib's Flask client. The web edge of signing in, like app/auth/login.py: it reads the request
and the signed session (Authlib keeps state, nonce and the PKCE verifier there).

    login page --POST /login/oidc/<name> (CSRF)--> `begin`: state, nonce, PKCE S256 in the session,
        redirect to the provider's authorization endpoint (from its discovery document)
    provider --GET /login/oidc/<name>/callback--> `finish`: the state must be this browser's, the
        code is swapped for tokens with the verifier, the ID token's signature is checked against
        the provider's published keys and its claims (iss exactly, aud = our client, exp, nonce)
        --> `find_employee`: the configured claim names an EXISTING, ACTIVE employee (nobody is
        created here and no role comes from a provider) --> the same sign-in tail as a password

Every failure of the callback is a `SignInFailed` with a message fit for the sign-in page, never
an exception page: a refused consent, a forged or missing state, a refused or replayed code, a
token of the wrong issuer or audience, a bad signature, an expired token, a provider that is down.
What went wrong is logged by kind only: no claim values, codes or tokens.

Providers come from the OIDC_PROVIDERS setting (config.py), read at each use: a test can point
the app at a provider of its own. Each provider's Authlib client (with its discovery document and
keys once fetched) is kept per app and rebuilt when its settings change or the document is a day
old (so a provider's new endpoints or keys are picked up without a restart).
"""
from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App, OAuthError
from flask import Flask, Response, current_app
from joserfc.errors import JoseError
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from app.core.db import db_session
from app.org.models import Employee
from app.web.headers import CONTENT_SECURITY_POLICY
from app.web.locale import gettext as _

log = logging.getLogger(__name__)

MATCH_CLAIMS = ("employee_number", "email")
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
TIMEOUT_SECONDS = 10  # each call to a provider (discovery, keys, token, userinfo)
LEEWAY_SECONDS = 60  # clock difference allowed on exp / iat
METADATA_MAX_AGE_SECONDS = 24 * 3600
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_CLIENTS = "manabi.oidc_clients"  # in app.extensions: name -> (Provider, client)

# In the Flask session while signed in through a provider (for single logout), and during a flow.
PROVIDER_KEY = "oidc_provider"
ID_TOKEN_KEY = "oidc_id_token"
# The ID token is kept in the (signed) session cookie for logout's id_token_hint only while it is
# small: a browser drops a cookie over 4 KB, and an Entra ID token with many groups is bigger.
# Without it, logout sends client_id alone and the provider asks the person to confirm.
ID_TOKEN_COOKIE_LIMIT = 2000
NEXT_KEY = "oidc_next"


@dataclass(frozen=True)
class Provider:
    name: str  # in the URLs: /login/oidc/<name>, /login/oidc/<name>/callback
    label: str  # on the button: "県庁アカウント"
    discovery_url: str
    client_id: str
    client_secret: str
    match_claim: str  # which employee field the claim names: "employee_number" or "email"
    claim: str  # the claim's name in the ID token (or the userinfo answer)
    scopes: str
    issuer: str  # the exact "iss" expected: the discovery URL without DISCOVERY_SUFFIX, unless configured


class SignInFailed(Exception):
    """A sign-in through a provider that did not succeed, with a message fit to show the person."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # a kind, for the log (never personal data)


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in: the configured claim's value and the ID token (kept in
    the session as the hint for single logout)."""

    value: str
    id_token: str


def parse_providers(raw: Mapping[str, Any] | None) -> dict[str, Provider]:
    """The OIDC_PROVIDERS setting as Providers; RuntimeError names the first mistake."""
    found: dict[str, Provider] = {}
    for name, settings in (raw or {}).items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise RuntimeError(f"OIDC_PROVIDERS: {name!r} is not a provider name (a-z, 0-9, - and _)")
        if not isinstance(settings, Mapping):
            raise RuntimeError(f"OIDC_PROVIDERS[{name!r}] must be an object")
        missing = [key for key in ("label", "discovery_url", "client_id", "client_secret")
                   if not isinstance(settings.get(key), str) or not settings[key].strip()]
        if missing:
            raise RuntimeError(f"OIDC_PROVIDERS[{name!r}] needs " + ", ".join(missing))
        match_claim = settings.get("match_claim", "employee_number")
        if match_claim not in MATCH_CLAIMS:
            raise RuntimeError(f"OIDC_PROVIDERS[{name!r}]: match_claim must be one of {', '.join(MATCH_CLAIMS)}")
        discovery_url = settings["discovery_url"].strip()
        if not discovery_url.startswith(("https://", "http://")):
            raise RuntimeError(f"OIDC_PROVIDERS[{name!r}]: discovery_url must be an http(s) address")
        issuer = settings.get("issuer") or (discovery_url[: -len(DISCOVERY_SUFFIX)]
                                            if discovery_url.endswith(DISCOVERY_SUFFIX) else "")
        if not issuer:
            raise RuntimeError(f"OIDC_PROVIDERS[{name!r}]: give the issuer (the discovery URL does not end "
                               f"with {DISCOVERY_SUFFIX})")
        scopes = str(settings.get("scopes") or "openid email profile")
        if "openid" not in scopes.split():
            raise RuntimeError(f"OIDC_PROVIDERS[{name!r}]: scopes must include openid")
        found[name] = Provider(
            name=name, label=settings["label"].strip(), discovery_url=discovery_url,
            client_id=settings["client_id"].strip(), client_secret=settings["client_secret"],
            match_claim=match_claim, claim=str(settings.get("claim") or match_claim), scopes=scopes,
            issuer=issuer)
    return found


def providers() -> list[Provider]:
    """The configured providers, in the configured order (one button each on the sign-in page)."""
    return list(parse_providers(current_app.config.get("OIDC_PROVIDERS")).values())


def find_provider(name: str | None) -> Provider | None:
    return parse_providers(current_app.config.get("OIDC_PROVIDERS")).get(name or "")


def _client(provider: Provider) -> FlaskOAuth2App:
    clients: dict[str, tuple[Provider, FlaskOAuth2App]] = current_app.extensions.setdefault(_CLIENTS, {})
    kept = clients.get(provider.name)
    if kept is not None and kept[0] == provider:
        loaded_at = kept[1].server_metadata.get("_loaded_at")
        if loaded_at is None or time.time() - loaded_at < METADATA_MAX_AGE_SECONDS:
            return kept[1]
    client = FlaskOAuth2App(
        FlaskIntegration(f"oidc_{provider.name}"), provider.name,
        client_id=provider.client_id, client_secret=provider.client_secret,
        server_metadata_url=provider.discovery_url,
        client_kwargs={"scope": provider.scopes, "code_challenge_method": "S256",
                       "default_timeout": TIMEOUT_SECONDS},
    )
    clients[provider.name] = (provider, client)
    return client


def _failed(provider: Provider, reason: str) -> SignInFailed:
    log.warning("oidc sign-in failed", extra={"fields": {"provider": provider.name, "reason": reason}})
    return SignInFailed(_("Signing in with %(provider)s did not succeed. Please try again from the sign-in "
                          "page. If it keeps failing, ask the training staff of the Personnel Division.",
                          provider=provider.label), reason)


def _unavailable(provider: Provider, reason: str) -> SignInFailed:
    log.warning("oidc provider unavailable", extra={"fields": {"provider": provider.name, "reason": reason}})
    return SignInFailed(_("%(provider)s cannot be reached just now, so signing in with it is not possible. "
                          "Please try again later.", provider=provider.label), reason)


def _metadata(provider: Provider, client: FlaskOAuth2App) -> dict[str, Any]:
    """The provider's discovery document; its issuer must be exactly the one configured."""
    try:
        metadata: dict[str, Any] = client.load_server_metadata()
    except (requests.RequestException, ValueError) as error:
        raise _unavailable(provider, f"discovery: {type(error).__name__}") from error
    if metadata.get("issuer") != provider.issuer:
        client.server_metadata.pop("_loaded_at", None)  # fetched again next time
        raise _failed(provider, "discovery: issuer differs from the configured one")
    return metadata


def begin(provider: Provider, redirect_uri: str) -> BaseResponse:
    """The redirect to the provider, with state, nonce and a PKCE challenge kept in the session."""
    client = _client(provider)
    _metadata(provider, client)
    try:
        response: BaseResponse = client.authorize_redirect(redirect_uri)
    except RuntimeError as error:  # a discovery document without an authorization endpoint
        raise _failed(provider, f"authorize: {error}") from error
    return response


def finish(provider: Provider) -> Identity:
    """Check the provider's answer (this request is its redirect back) and return who signed in."""
    client = _client(provider)
    metadata = _metadata(provider, client)
    try:
        token = client.authorize_access_token(
            claims_options={"iss": {"essential": True, "value": provider.issuer},
                            "aud": {"essential": True, "value": provider.client_id}},
            leeway=LEEWAY_SECONDS)
    except OAuthError as error:
        if error.error == "access_denied":
            log.info("oidc sign-in refused at the provider", extra={"fields": {"provider": provider.name}})
            raise SignInFailed(_("Signing in with %(provider)s was cancelled.", provider=provider.label),
                               "access_denied") from error
        raise _failed(provider, f"oauth: {error.error}") from error
    except JoseError as error:
        raise _failed(provider, f"id_token: {error.error}") from error
    except (requests.RequestException, ValueError) as error:
        raise _unavailable(provider, f"token: {type(error).__name__}") from error
    except RuntimeError as error:  # no jwks_uri, no token endpoint: the provider is misconfigured
        raise _failed(provider, f"provider: {error}") from error
    claims = token.get("userinfo")
    id_token = token.get("id_token")
    if not claims or not isinstance(id_token, str):  # no ID token: nothing was verified
        raise _failed(provider, "no id_token")
    value = claims.get(provider.claim)
    if value is None and metadata.get("userinfo_endpoint"):
        value = _from_userinfo(provider, client, token, claims["sub"])
    if provider.match_claim == "email" and claims.get("email_verified") is False:
        raise _failed(provider, "email not verified")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an employee number some directories send as a number
    if not isinstance(value, str) or not value.strip():
        raise _failed(provider, f"claim {provider.claim} missing")
    return Identity(value=value.strip(), id_token=id_token)


def _from_userinfo(provider: Provider, client: FlaskOAuth2App, token: dict[str, Any], subject: str) -> Any:
    try:
        info = client.userinfo(token=token)
    except (OAuthError, requests.RequestException, ValueError) as error:
        raise _unavailable(provider, f"userinfo: {type(error).__name__}") from error
    if info.get("sub") != subject:  # OpenID Connect Core 5.3.2: else the answer is not about this person
        raise _failed(provider, "userinfo sub differs")
    return info.get(provider.claim)


def find_employee(provider: Provider, value: str) -> Employee | None:
    """The employee the claim names (active or not: the caller tells the two apart), or None."""
    value = unicodedata.normalize("NFKC", value).strip()
    if provider.match_claim == "email":
        return db_session.scalar(select(Employee).where(func.lower(Employee.email) == value.lower()))
    return db_session.scalar(select(Employee).where(Employee.employee_number == value))


def end_session_url(name: str | None, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
    """Where to send the browser so the provider signs the person out too (RP-initiated logout),
    or None: not signed in through a provider, or it has no end-session endpoint, or it cannot be
    reached (the Manabi session has ended anyway)."""
    provider = find_provider(name)
    if provider is None:
        return None
    client = _client(provider)
    try:
        metadata = _metadata(provider, client)
    except SignInFailed:
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    created: dict[str, Any] = client.create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token or None, client_id=provider.client_id)
    return str(created["url"])


def _origin(url: object) -> str | None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def form_targets() -> list[str]:
    """The providers' origins, where the sign-in button's and the sign-out button's POSTs are
    redirected: the discovery document's host, and the endpoints of any document already fetched."""
    clients: dict[str, tuple[Provider, FlaskOAuth2App]] = current_app.extensions.get(_CLIENTS, {})
    found: list[str] = []
    for provider in providers():
        urls: list[object] = [provider.discovery_url, provider.issuer]
        kept = clients.get(provider.name)
        if kept is not None and kept[0] == provider:
            metadata = kept[1].server_metadata
            urls += [metadata.get("authorization_endpoint"), metadata.get("end_session_endpoint")]
        for url in urls:
            origin = _origin(url)
            if origin is not None and origin not in found:
                found.append(origin)
    return found


def init_app(app: Flask) -> None:
    parse_providers(app.config.get("OIDC_PROVIDERS"))  # refuse to start with a mistake in the setting
    app.add_template_global(providers, "oidc_providers")

    @app.after_request
    def _let_forms_lead_to_the_providers(response: Response) -> Response:
        """CSP form-action is 'self' (app/web/headers.py), and browsers apply it to the redirects
        that follow a form's POST: the sign-in button (to the authorization endpoint) and sign-out
        (to the end-session endpoint) need the providers' origins too. Whichever of the two
        after_request functions runs first, the policy ends the same."""
        targets = form_targets() if current_app.config.get("OIDC_PROVIDERS") else []
        if targets:
            policy = response.headers.get("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers["Content-Security-Policy"] = policy.replace(
                "form-action 'self'", "form-action 'self' " + " ".join(targets), 1)
        return response
