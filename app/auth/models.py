from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


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
    """Failed sign-ins counted per key ("account:<login>" or "address:<ip>") in a window.

    Kept in the database, not in process memory, so every worker sees the same count.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
