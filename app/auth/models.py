from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Credential(Base):
    """A password for an employee. Absent until HR sets a temporary one."""

    __tablename__ = "credentials"

    employee_id: Mapped[int] = mapped_column(
        ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change: Mapped[bool] = mapped_column(Boolean, default=True)
    changed_at: Mapped[datetime]


class LoginThrottle(Base):
    """Failed attempts counted per key, kept in the database (not in process memory) so every
    worker sees the same count. Sign-in keys (app/auth/throttling.py): "employee:<id>" (the
    person, however the login was typed), "login:<typed login>" (no such person), "device:<nonce>"
    (a browser the owner signed in from) and "address:<client address>". Check-in codes use
    their own keys (app/auth/attempt_counter.py).
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    last_failure_at: Mapped[datetime | None]


class UserSession(Base):
    """A signed-in browser. The browser's (signed) session cookie holds a random token; only its
    SHA-256 is stored here, so reading this table does not let anyone sign in. Every signed-in
    request must find its row unrevoked and younger than SESSION_MAX_AGE_SECONDS
    (app/auth/login.py), so revoking the row ends the session wherever the cookie was copied to.

    Transitions (app/auth/sessions.py): started (sign-in) -> revoked (sign-out, password change,
    deactivation, "sign out everywhere", ended from the sessions page), one guarded UPDATE each;
    expired rows and revoked ones are deleted at the person's next sign-in.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_employee_id", "employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]  # written by requests that write anyway (never by a GET), once a minute
    user_agent: Mapped[str] = mapped_column(String(100), default="")  # a summary: "Chrome / Windows"
    address: Mapped[str] = mapped_column(String(64), default="")
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(30))


class LoginUnlock(Base):
    """A single-use link mailed to the owner of an account whose sign-ins are being delayed.
    Only the token's SHA-256 is stored; `used_at` is set by one guarded UPDATE, so a link works once."""

    __tablename__ = "login_unlocks"
    __table_args__ = (Index("ix_login_unlocks_employee_id", "employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
