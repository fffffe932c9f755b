"""The JSON API's own rows: personal access tokens, idempotency keys, and per-token rate windows.

A token's secret is shown once, when it is made; only its SHA-256 is kept (`token_hash`), so
reading this table lets nobody call the API. Transitions (app/api/tokens.py): created -> revoked
(`revoked_at`, one guarded UPDATE); a token also stops working at `expires_at` or when its owner
is deactivated.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base
from app.org.models import Employee


class ApiToken(Base):
    """A personal access token: its owner acts through the API with their own rights, narrowed to
    the token's scopes (space-separated, e.g. "read enrol")."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_employee_id", "employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    scopes: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))  # the first characters ("mnb_ab12"), to tell tokens apart
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]  # noted once a minute at most (with the rate window)
    revoked_at: Mapped[datetime | None]

    employee: Mapped[Employee] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class ApiIdempotencyKey(Base):
    """The answer to a POST made with an `Idempotency-Key`, kept per token for a day: the same key
    with the same request replays it; with another request it is refused."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]


class ApiRateWindow(Base):
    """Requests counted per token per minute, in the database so every worker counts the same."""

    __tablename__ = "api_rate_windows"

    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(primary_key=True)
    requests: Mapped[int] = mapped_column(Integer)
