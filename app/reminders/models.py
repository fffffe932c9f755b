from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, enum_column
from app.org.models import Employee


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its due time (or a retry)
    SENDING = "sending"  # claimed by a scheduler; reclaimed if the claim goes stale
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry; HR can resend
    VOID = "void"  # replaced or no longer relevant (session moved, enrolment ended)
    SKIPPED = "skipped"  # found stale at send time, or the recipient turned the kind off


class Notification(Base):
    """One message to one person. The same row is the e-mail (outbox) and the in-app notice."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_notifications_due", "status", "due_at", "id"),  # the claim order
        Index("ix_notifications_recipient", "recipient_id", "id"),
        Index("ix_notifications_enrolment", "enrolment_id"),  # a few rows each: status need not churn it
        Index("ix_notifications_sent_at", "sent_at"),  # the last delivery (API outbox status): max() reads one entry
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(200))  # one row per cause, so nothing is doubled
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # ids the message is rendered from
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="SET NULL"))
    is_urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # may go outside office hours
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus))
    due_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")  # as rendered when sent (or shown)
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    recipient: Mapped[Employee] = relationship()


class MessageTemplate(Base):
    """HR's wording for a kind in a language; the built-in wording applies when there is none."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("kind", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))


class KindSetting(Base):
    """Whether a kind is sent at all, and (for session reminders) at which business-day offsets."""

    __tablename__ = "notification_kind_settings"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    offsets: Mapped[list[int] | None] = mapped_column(JSON)


class OptOut(Base):
    """An employee turned an optional kind off."""

    __tablename__ = "notification_opt_outs"

    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)


class SenderHeartbeat(Base):
    """A sender's own lease on its claims: written with every claim and renewed while it sends
    (every third of SCHEDULER_LEASE_SECONDS). Once `expires_at` has passed, the sender is taken
    for dead and its claims go back (app/reminders/delivery.py); a sender that finishes removes
    its row. `worker` is the name its claims carry in `notifications.claimed_by`."""

    __tablename__ = "sender_heartbeats"

    worker: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_at: Mapped[datetime]
