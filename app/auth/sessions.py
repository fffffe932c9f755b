"""Server-side sessions: one `UserSession` row per signed-in browser. Callers commit.

    (sign-in) --start_session--> active --revoke_*--> revoked  (deleted at the person's next sign-in)
                                   |
                                   +-- older than SESSION_MAX_AGE_SECONDS: no longer accepted

The browser's signed Flask session holds the random token (`SESSION_TOKEN_KEY`); the row holds
its SHA-256. Every signed-in request loads the person and the row in one statement
(`load_signed_in`), so a revoked row ends the session at once, on every copy of the cookie; the
same statement reads what the layout needs about the person (their roles, the units they head,
the unread count), as columns the caller passes (app/auth/login.py).

Revoking is one UPDATE ... WHERE revoked_at IS NULL, so revoking twice has one effect.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import ColumnElement, Select, bindparam, delete, or_, select, update
from sqlalchemy.orm import lazyload

from app.auth.models import UserSession
from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.org.models import Employee

SESSION_TOKEN_KEY = "_session_token"  # in the Flask session, beside Flask-Login's "_user_id"
LAST_SEEN_EVERY = timedelta(minutes=1)

# Why a row was revoked (kept on the row until the person's next sign-in deletes it).
SIGNED_OUT = "signed_out"
ENDED_BY_OWNER = "ended_by_owner"
PASSWORD_CHANGED = "password_changed"
DEACTIVATED = "deactivated"
ENDED_BY_ADMINISTRATOR = "ended_by_admin"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class StartedSession:
    row: UserSession
    token: str  # goes into the signed Flask session; never stored


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def summarise_user_agent(user_agent: str | None) -> str:
    """"Chrome / Windows": enough to recognise one's own browsers, nothing that identifies more."""
    text = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in text), "")
    system = next((name for marker, name in _SYSTEMS if marker in text), "")
    if browser or system:
        return " / ".join(part for part in (browser, system) if part)
    return re.sub(r"[^\x20-\x7e]", "", text)[:40]  # printable ASCII only: shown on a page as is


def start_session(employee: Employee, *, user_agent: str | None, address: str | None) -> StartedSession:
    """A new session row for a successful sign-in; the person's revoked and expired rows go."""
    current = now()
    db_session.execute(delete(UserSession).where(
        UserSession.employee_id == employee.id,
        or_(UserSession.revoked_at.is_not(None), UserSession.created_at < current - _max_age())))
    token = secrets.token_urlsafe(32)
    row = UserSession(token_hash=hash_token(token), employee_id=employee.id, created_at=current,
                      last_seen_at=current, user_agent=summarise_user_agent(user_agent),
                      address=(address or "")[:64])
    db_session.add(row)
    db_session.flush()
    return StartedSession(row, token)


def _max_age() -> timedelta:
    return timedelta(seconds=current_app.config["SESSION_MAX_AGE_SECONDS"])


def _active(at: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (UserSession.revoked_at.is_(None), UserSession.created_at > at - _max_age())


class SignedIn(NamedTuple):
    employee: Employee
    row: UserSession
    values: tuple[Any, ...]  # the `also` columns, in their order


def signed_in_statement(also: Sequence[ColumnElement[Any]] = ()) -> Select[Any]:
    """The statement `load_signed_in` runs, built once per app (what varies are its parameters):
    it runs on every signed-in request, and building it and its cache key each time cost more than
    running it.

    `also`: scalar subqueries correlated to Employee (the person's roles, the units they head ...),
    read in the same statement; their values come back in `values`. Their role grants are not
    loaded (ask `permissions`, which reads the roles from `also`); touching `employee.roles` loads
    them then."""
    return (
        select(Employee, UserSession, *also)
        .join(UserSession, UserSession.employee_id == Employee.id)
        .where(Employee.id == bindparam("employee_id"), Employee.is_active.is_(True),
               UserSession.token_hash == bindparam("token_hash"), UserSession.revoked_at.is_(None),
               UserSession.created_at > bindparam("created_after"))
        .options(lazyload(Employee.role_grants))
    )


def load_signed_in(statement: Select[Any], employee_id: int, token: str | None) -> SignedIn | None:
    """The active person and their session row, in one statement (`signed_in_statement`). None
    when the row is missing, revoked or expired, or the person is deactivated."""
    found = db_session.execute(statement, {"employee_id": employee_id, "token_hash": hash_token(token or ""),
                                           "created_after": now() - _max_age()}).first()
    if found is None:
        return None
    return SignedIn(found[0], found[1], tuple(found[2:]))


def touch(row: UserSession) -> None:
    """Note activity, at most once a minute. Called only by requests that write anyway (never a
    GET), so reading pages never writes to the database."""
    current = now()
    if row.last_seen_at <= current - LAST_SEEN_EVERY:
        db_session.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=current)
                           .execution_options(synchronize_session=False))


def active_sessions(employee_id: int) -> list[UserSession]:
    """Someone's sessions that still open pages, most recently used first."""
    return list(db_session.scalars(
        select(UserSession).where(UserSession.employee_id == employee_id, *_active(now()))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())))


def _revoke(reason: str, *conditions: ColumnElement[bool]) -> int:
    result = db_session.execute(
        update(UserSession).where(UserSession.revoked_at.is_(None), *conditions)
        .values(revoked_at=now(), revoked_reason=reason).execution_options(synchronize_session=False))
    return rows_changed(result) or 0


def revoke_session(session_id: int, reason: str, *, employee_id: int) -> bool:
    """End one of a person's sessions (the owner ending it from the sessions page)."""
    return _revoke(reason, UserSession.id == session_id, UserSession.employee_id == employee_id) > 0


def revoke_token(token: str | None, reason: str) -> bool:
    """End the session a browser holds (sign-out)."""
    if not token:
        return False
    return _revoke(reason, UserSession.token_hash == hash_token(token)) > 0


def revoke_all(employee_id: int, reason: str, *, keep_session_id: int | None = None) -> int:
    """End every session of a person (but the one kept, e.g. where the password was just changed)."""
    conditions = [UserSession.employee_id == employee_id]
    if keep_session_id is not None:
        conditions.append(UserSession.id != keep_session_id)
    return _revoke(reason, *conditions)


def revoke_all_of(employee_ids: list[int], reason: str) -> int:
    """End every session of several people at once (a staff import deactivating them)."""
    ids = sorted(set(employee_ids))
    return sum(_revoke(reason, UserSession.employee_id.in_(ids[start:start + 500]))
               for start in range(0, len(ids), 500))
