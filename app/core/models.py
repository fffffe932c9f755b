"""Tables of the core itself (every domain's tables live in the domain)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class SchedulerLease(Base):
    """Only the holder of an unexpired lease runs the scheduled jobs; others stand by."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime]
