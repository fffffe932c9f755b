"""Sign-in throttling that fits a reverse proxy (ARCHITECTURE: throttling lives in auth/).

Counted in the database (`login_throttles`), so every worker and process sees the same counts
(STACK-NOTES trap 10). Three counters, each a guarded atomic UPDATE (no read-modify-write):

- **The account**, keyed on the person ("employee:<id>") however the login was typed (employee
  number or e-mail, any case); a login that matches nobody is keyed on the normalised text typed
  ("login:<text>"), so unknown names are slowed exactly like real ones and the answers reveal
  nothing. `max_per_account` failures are free; after that each attempt must wait
  `delay_base` × 2^(failures − max_per_account), at most `delay_max`, counted from the last
  failure. Attempts refused while waiting do not count. Failures are forgotten after
  `account_memory` without one, after a sign-in, and when the password changes (a temporary
  password from HR, or the owner's own change).
- **The browser the owner signed in from** ("device:<nonce>"): a successful sign-in (or the
  unlock link) leaves a signed cookie naming the person. A sign-in to that person from that
  browser skips the account's delay and the address ceiling, and has a counter of its own with
  the same rule, so an attacker elsewhere never locks the owner out, and a stolen cookie guesses
  no faster than anyone.
- **The client address** ("address:<ip>", the real client behind TRUSTED_PROXY_COUNT proxies):
  a ceiling of `max_per_address` failures per fixed `window`, high enough for a whole office
  behind one NAT address; it stops one address from trying many accounts.

When an account reaches its first delay, its owner is mailed a single-use link (at most one per
`unlock_lifetime`): using it clears the account's count and marks that browser as the owner's.
"""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import case, delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import LoginThrottle, LoginUnlock
from app.core.db import db_session

UNLOCK_PATH = "/account/unlock/{token}"  # the route in app/auth/views.py; mailed as BASE_URL + this
_DEVICE_SALT = "manabi-sign-in-device"


@dataclass(frozen=True)
class ThrottlePolicy:
    max_per_account: int
    delay_base: timedelta
    delay_max: timedelta
    account_memory: timedelta
    max_per_address: int
    window: timedelta
    unlock_lifetime: timedelta = timedelta(hours=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ThrottlePolicy:
        return cls(
            max_per_account=int(config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
            delay_base=timedelta(seconds=int(config["LOGIN_DELAY_BASE_SECONDS"])),
            delay_max=timedelta(seconds=int(config["LOGIN_DELAY_MAX_SECONDS"])),
            account_memory=timedelta(seconds=int(config["LOGIN_ACCOUNT_MEMORY_SECONDS"])),
            max_per_address=int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
            window=timedelta(seconds=int(config["LOGIN_THROTTLE_WINDOW_SECONDS"])),
            unlock_lifetime=timedelta(seconds=int(config["LOGIN_UNLOCK_LINK_SECONDS"])),
        )


# --- keys ------------------------------------------------------------------------------------


def normalise_login(login: str) -> str:
    """What counts as "the same login typed": NFKC (full-width digits), no outer spaces, any case."""
    return unicodedata.normalize("NFKC", login).strip().casefold()[:250]


def account_key(employee_id: int) -> str:
    return f"employee:{employee_id}"


def unknown_login_key(login: str) -> str:
    return f"login:{normalise_login(login)}"


def device_key(nonce: str) -> str:
    return f"device:{nonce[:64]}"


def address_key(address: str) -> str:
    return f"address:{address[:200]}"


# --- the account (and device) counters: free failures, then a doubling delay ----------------------


def delay_after(failures: int, policy: ThrottlePolicy) -> timedelta | None:
    """How long after the last failure the next attempt waits (None: no wait)."""
    if failures < policy.max_per_account:
        return None
    doubling = min(failures - policy.max_per_account, 32)
    return min(policy.delay_max, policy.delay_base * (2 ** doubling))


def _current(key: str) -> LoginThrottle | None:
    return db_session.get(LoginThrottle, key, populate_existing=True)


def _forgotten_since(policy: ThrottlePolicy, at: datetime, password_changed_at: datetime | None) -> datetime:
    """Failures at or before this instant no longer count."""
    forgotten = at - policy.account_memory
    if password_changed_at is not None and password_changed_at > forgotten:
        return password_changed_at
    return forgotten


def account_wait(key: str, policy: ThrottlePolicy, at: datetime, *,
                 password_changed_at: datetime | None = None) -> timedelta | None:
    """The time left before `key` may try again, or None."""
    row = _current(key)
    if row is None or row.last_failure_at is None:
        return None
    if row.last_failure_at <= _forgotten_since(policy, at, password_changed_at):
        return None
    delay = delay_after(row.failures, policy)
    if delay is None:
        return None
    remaining = row.last_failure_at + delay - at
    return remaining if remaining > timedelta(0) else None


def count_account_failure(key: str, policy: ThrottlePolicy, at: datetime, *,
                          password_changed_at: datetime | None = None) -> int:
    """Count one failure for `key`; return its failures now (1 after a forgotten past)."""
    table = LoginThrottle
    stale = table.last_failure_at.is_(None) | (table.last_failure_at <= _forgotten_since(policy, at,
                                                                                         password_changed_at))
    return _upsert(key, at, {
        "failures": case((stale, 1), else_=table.failures + 1),
        "window_started_at": case((stale, at), else_=table.window_started_at),
        "last_failure_at": at,
    })


def forget(key: str) -> None:
    db_session.execute(delete(LoginThrottle).where(LoginThrottle.key == key)
                       .execution_options(synchronize_session=False))


# --- the address ceiling: a fixed window -----------------------------------------------------------


def address_wait(key: str, policy: ThrottlePolicy, at: datetime) -> timedelta | None:
    row = _current(key)
    if row is None or row.failures < policy.max_per_address:
        return None
    remaining = row.window_started_at + policy.window - at
    return remaining if remaining > timedelta(0) else None


def count_address_failure(key: str, policy: ThrottlePolicy, at: datetime) -> int:
    table = LoginThrottle
    expired = table.window_started_at <= at - policy.window
    return _upsert(key, at, {
        "failures": case((expired, 1), else_=table.failures + 1),
        "window_started_at": case((expired, at), else_=table.window_started_at),
        "last_failure_at": at,
    })


def _upsert(key: str, at: datetime, values: dict[str, Any]) -> int:
    """One atomic UPDATE ... RETURNING; the first failure of a key inserts (a racing insert of
    the same key, which only unknown logins can meet, falls back to the UPDATE)."""
    statement = (update(LoginThrottle).where(LoginThrottle.key == key).values(**values)
                 .returning(LoginThrottle.failures).execution_options(synchronize_session=False))
    for _attempt in range(2):
        failures = db_session.execute(statement).scalar()
        if failures is not None:
            return int(failures)
        try:
            with db_session.begin_nested():
                db_session.add(LoginThrottle(key=key, failures=1, window_started_at=at, last_failure_at=at))
            return 1
        except IntegrityError:
            continue
    raise RuntimeError(f"could not count a failure for {key}")  # pragma: no cover - two lost races


# --- the owner's browser ------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """A browser the person signed in from (or unlocked from), as its signed cookie says."""

    employee_id: int
    nonce: str


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=_DEVICE_SALT)


def new_device_cookie(employee_id: int, secret_key: str) -> str:
    return _serializer(secret_key).dumps({"e": employee_id, "n": secrets.token_urlsafe(16)})


def read_device_cookie(value: str | None, secret_key: str, max_age: timedelta) -> Device | None:
    if not value or len(value) > 400:
        return None
    try:
        data = _serializer(secret_key).loads(value, max_age=int(max_age.total_seconds()))
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("e"), int) or not isinstance(data.get("n"), str):
        return None
    return Device(employee_id=data["e"], nonce=data["n"])


# --- the unlock link ---------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_unlock(employee_id: int, policy: ThrottlePolicy, at: datetime) -> tuple[int, str] | None:
    """A new single-use link for the person, unless one was made within its lifetime (so an
    attacker cannot flood the owner's mailbox). Returns (row id, token) or None."""
    recent = exists().where(LoginUnlock.employee_id == employee_id,
                            LoginUnlock.created_at > at - policy.unlock_lifetime)
    if db_session.scalar(select(recent)):
        return None
    db_session.execute(delete(LoginUnlock).where(LoginUnlock.employee_id == employee_id)
                       .execution_options(synchronize_session=False))  # old links: used or expired
    token = secrets.token_urlsafe(32)
    row = LoginUnlock(token_hash=_hash(token), employee_id=employee_id, created_at=at,
                      expires_at=at + policy.unlock_lifetime)
    db_session.add(row)
    db_session.flush()
    return row.id, token


def unlock_is_valid(token: str, at: datetime) -> bool:
    return db_session.scalar(select(exists().where(
        LoginUnlock.token_hash == _hash(token), LoginUnlock.used_at.is_(None), LoginUnlock.expires_at > at))) is True


def use_unlock(token: str, at: datetime) -> int | None:
    """Spend a link (one guarded UPDATE: it works once) and clear the person's account count.
    Returns the person's id, or None for an unknown, used or expired link."""
    employee_id = db_session.execute(
        update(LoginUnlock)
        .where(LoginUnlock.token_hash == _hash(token), LoginUnlock.used_at.is_(None), LoginUnlock.expires_at > at)
        .values(used_at=at).returning(LoginUnlock.employee_id).execution_options(synchronize_session=False)
    ).scalar()
    if employee_id is None:
        return None
    forget(account_key(employee_id))
    return int(employee_id)
