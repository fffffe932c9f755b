"""Personal access tokens: made, listed, revoked, and found again from the secret a client sends.

The secret is "mnb_" followed by 32 random bytes (URL-safe base64); it is returned once by
`create_token` and only its SHA-256 is stored. Revoking is one guarded UPDATE (a second revoke
changes nothing). Services flush; the edge commits.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import contains_eager

from app.api.models import ApiClient, ApiToken
from app.audit.services import record_event
from app.core.clock import TOKYO, now, today
from app.core.db import db_session, rows_changed
from app.org.models import Employee
from app.web.locale import gettext as _

PREFIX = "mnb_"
# What a token may be used for; what its holder may do there is still judged by app/permissions.py.
# read: everything the holder may see; enrol: enrol and cancel oneself; approve: decide enrolment
# requests; attend: record attendance; staff: update staff and placements (the personnel system).
SCOPES = ("read", "enrol", "approve", "attend", "staff")
MAX_LIFETIME_DAYS = 366
_SECRET_BYTES = 32


class TokenError(Exception):
    """Why a token cannot be made as asked, fit to show the user."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def latest_expiry() -> date:
    return today() + timedelta(days=MAX_LIFETIME_DAYS)


def create_token(owner: Employee, name: str, scopes: list[str], expires_on: date) -> NewToken:
    """A new token for `owner`, valid through `expires_on` (Tokyo time), at most a year ahead."""
    name = name.strip()
    chosen = sorted(set(scopes))
    if not name:
        raise TokenError(_("Give the token a name."))
    if not chosen or any(scope not in SCOPES for scope in chosen):
        raise TokenError(_("Choose at least one scope."))
    if expires_on <= today() or expires_on > latest_expiry():
        raise TokenError(_("Choose an expiry date between tomorrow and %(date)s.", date=latest_expiry().isoformat()))
    secret = new_secret()
    current = now()
    token = ApiToken(employee_id=owner.id, name=name[:80], scopes=" ".join(chosen), token_hash=hash_secret(secret),
                     hint=secret[:8], created_at=current, expires_at=_end_of(expires_on))
    db_session.add(token)
    db_session.flush()
    record_event(owner, "api.token_created", "api_token", token.id,
                 after={"scopes": token.scopes, "expires_at": token.expires_at.isoformat()})
    return NewToken(token, secret)


def _end_of(day: date) -> datetime:
    """The first instant after `day` in Tokyo: a token "valid through" a date works all that day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=TOKYO)


def revoke_token(owner: Employee, token_id: int) -> bool:
    """Revoke one of `owner`'s own live tokens; False when there is none such (already revoked,
    someone else's, or no such token)."""
    changed = rows_changed(db_session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.employee_id == owner.id,
                               ApiToken.revoked_at.is_(None)).values(revoked_at=now())
        .execution_options(synchronize_session=False)))
    if changed:
        record_event(owner, "api.token_revoked", "api_token", token_id)
    return bool(changed)


def tokens_of(employee_id: int) -> list[ApiToken]:
    """Someone's tokens for the account page, newest first (revoked and expired ones too)."""
    return list(db_session.scalars(select(ApiToken).where(ApiToken.employee_id == employee_id)
                                   .order_by(ApiToken.id.desc())))


def usable_token(secret: str, current: datetime) -> ApiToken | None:
    """The live token with this secret and its active owner or live system account (one
    statement), else None."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    return db_session.scalar(
        select(ApiToken)
        .outerjoin(Employee, ApiToken.employee_id == Employee.id)
        .outerjoin(ApiClient, ApiToken.client_id == ApiClient.id)
        .where(ApiToken.token_hash == hash_secret(secret), ApiToken.revoked_at.is_(None),
               ApiToken.expires_at > current,
               or_(Employee.is_active.is_(True), and_(ApiClient.id.is_not(None), ApiClient.revoked_at.is_(None))))
        .options(contains_eager(ApiToken.employee), contains_eager(ApiToken.client)))


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
