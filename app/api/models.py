"""The JSON API's own rows: personal access tokens, idempotency keys, and per-token rate windows.

A token's secret is shown once, when it is made; only its SHA-256 is kept (`token_hash`), so
reading this table lets nobody call the API. Transitions (app/api/tokens.py): created -> revoked
(`revoked_at`, one guarded UPDATE); a token also stops working at `expires_at` or when its owner
is deactivated.

A token belongs to a person (a personal access token) or to a system account (`ApiClient`, an
OAuth 2 client that gets short-lived tokens with its id and secret: app/api/oauth.py), never both.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base
from app.org.models import Employee


class ApiClient(Base):
    """A system account (the personnel system, a monitoring job): an OAuth 2 client that acts with
    one system role (app/permissions.py `SYSTEM_ROLE_PERMISSIONS`), never as a person. Only the
    SHA-256 of its secret is kept. Transitions (app/api/clients.py): created -> revoked."""

    __tablename__ = "api_clients"
    __table_args__ = (CheckConstraint("role IN ('personnel_system', 'hr')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    scopes: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class ApiToken(Base):
    """A personal access token: its owner acts through the API with their own rights, narrowed to
    the token's scopes (space-separated, e.g. "read enrol"); or a system account's token, made by
    the client credentials grant, that acts with the account's role for an hour."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_employee_id", "employee_id"), Index("ix_api_tokens_client_id", "client_id"),
                      CheckConstraint("(employee_id IS NULL) <> (client_id IS NULL)", name="one_holder"))

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    scopes: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))  # the first characters ("mnb_ab12"), to tell tokens apart
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]  # noted once a minute at most (with the rate window)
    revoked_at: Mapped[datetime | None]

    employee: Mapped[Employee | None] = relationship()
    client: Mapped[ApiClient | None] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    @property
    def holder(self) -> str:
        """Who counts as the caller for rate limits and idempotency keys."""
        return f"client:{self.client_id}" if self.client_id is not None else f"token:{self.id}"


class ApiIdempotencyKey(Base):
    """The answer to a POST made with an `Idempotency-Key`, kept per holder for a day: the same key
    with the same request replays it; with another request it is refused. The holder is a personal
    token ("token:<id>") or a system account ("client:<id>"), so a system's retry with its next
    hourly token replays too."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("holder", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    holder: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]


class ApiRateWindow(Base):
    """Requests counted per holder (as above) per minute, in the database so every worker counts
    the same; a system account's hourly tokens share one budget."""

    __tablename__ = "api_rate_windows"

    holder: Mapped[str] = mapped_column(String(30), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(primary_key=True)
    requests: Mapped[int] = mapped_column(Integer)
