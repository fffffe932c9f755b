"""System accounts of the API (OAuth 2 clients): registered by an administrator, each with one
system role (app/permissions.py `SYSTEM_ROLE_PERMISSIONS`) and the scopes it may ask for. The
secret is shown once; only its SHA-256 is stored. A client gets hour-long access tokens from the
token endpoint (app/api/oauth.py) with its id and secret. Revoking is one guarded UPDATE, and its
tokens stop working with it. Services flush; the edge commits."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from app.api.models import ApiClient, ApiToken
from app.api.tokens import hash_secret, new_secret
from app.audit.services import record_event
from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.core.text_safety import find_unsafe
from app.org.models import Employee
from app.permissions import SYSTEM_ROLE_PERMISSIONS
from app.web.locale import gettext as _

CLIENT_ID_PREFIX = "mnbc_"
CLIENT_SCOPES = ("read", "staff")  # a system account acts for no person: never enrol, approve, attend
TOKEN_LIFETIME = timedelta(hours=1)


class ClientError(Exception):
    """Why a client cannot be registered as asked, fit to show the administrator."""


@dataclass(frozen=True)
class NewClient:
    client: ApiClient
    secret: str  # shown once, never stored


def create_client(actor: Employee | None, name: str, role: str, scopes: list[str]) -> NewClient:
    if (problem := find_unsafe(name)) is not None:  # before anything is trimmed: a line break is refused
        raise ClientError(_("Name of the system account") + ": " + problem.describe())
    name = name.strip()
    chosen = sorted(set(scopes))
    if not name or len(name) > 80:
        raise ClientError(_("Give the system account a name of at most 80 characters."))
    if role not in SYSTEM_ROLE_PERMISSIONS:
        raise ClientError(_("Choose one of the roles: %(roles)s.", roles=", ".join(SYSTEM_ROLE_PERMISSIONS)))
    if not chosen or any(scope not in CLIENT_SCOPES for scope in chosen):
        raise ClientError(_("Choose scopes among: %(scopes)s.", scopes=", ".join(CLIENT_SCOPES)))
    if db_session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise ClientError(_("A system account named %(name)s exists already.", name=name))
    secret = new_secret()
    client = ApiClient(client_id=CLIENT_ID_PREFIX + secrets.token_hex(8), name=name, role=role, scopes=" ".join(chosen),
                       secret_hash=hash_secret(secret), created_by_id=actor.id if actor else None, created_at=now())
    db_session.add(client)
    db_session.flush()
    record_event(actor, "api.client_created", "api_client", client.id,
                 after={"name": name, "role": role, "scopes": client.scopes})
    return NewClient(client, secret)


def revoke_client(actor: Employee | None, client_id: str) -> bool:
    """Revoke a live client (its tokens stop working at once); False when there is none such."""
    current = now()
    changed = rows_changed(db_session.execute(
        update(ApiClient).where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None))
        .values(revoked_at=current).execution_options(synchronize_session=False)))
    if changed:
        row = db_session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
        db_session.execute(update(ApiToken).where(ApiToken.client_id == (row.id if row else None),
                                                  ApiToken.revoked_at.is_(None))
                           .values(revoked_at=current).execution_options(synchronize_session=False))
        record_event(actor, "api.client_revoked", "api_client", row.id if row else client_id)
    return bool(changed)


def all_clients() -> list[ApiClient]:
    return list(db_session.scalars(select(ApiClient).order_by(ApiClient.name)))


def live_client(client_id: str) -> ApiClient | None:
    if not client_id.startswith(CLIENT_ID_PREFIX) or len(client_id) > 40:
        return None
    return db_session.scalar(select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None)))


def secret_matches(client: ApiClient, secret: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), client.secret_hash)


def store_client_token(client: ApiClient, secret: str, scopes: str, current: datetime) -> ApiToken:
    """Keep an issued access token (its hash); drop the client's tokens that ended a day ago."""
    db_session.execute(delete(ApiToken).where(ApiToken.client_id == client.id,
                                              ApiToken.expires_at < current - timedelta(days=1)))
    token = ApiToken(client_id=client.id, name="client_credentials", scopes=scopes, token_hash=hash_secret(secret),
                     hint=secret[:8], created_at=current, expires_at=current + TOKEN_LIFETIME)
    client.last_used_at = current
    db_session.add(token)
    db_session.flush()
    return token
