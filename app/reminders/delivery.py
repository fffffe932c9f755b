"""Delivering the outbox: claim due rows, send each, mark it, one commit per message.

- Claims are a conditional UPDATE (status pending → sending, with the worker's name), so two
  schedulers running at once never take the same row (PostgreSQL skips rows locked by the other).
- A row is marked sent in its own commit right after the SMTP server accepted it. If the process
  dies between the two, the row is reclaimed after `stale_after` and sent again with the same
  Message-ID; a message whose mark committed is never sent again.
- Failures retry with backoff; after the last try the row is failed and shown to HR.
- Outside office hours only urgent kinds are claimed; the rest wait for the next office hours.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import select, update

from app.business_days import within_office_hours
from app.db import begin_write_transaction, db_session
from app.mail import Transport
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.rendering import build_email, render, skip_reason

log = logging.getLogger(__name__)
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
           timedelta(hours=3))


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    reclaimed: int = 0
    errors: list[str] = field(default_factory=list)


def office_hours() -> tuple[time, time]:
    cfg = current_app.config
    return time.fromisoformat(cfg["OFFICE_HOURS_START"]), time.fromisoformat(cfg["OFFICE_HOURS_END"])


def claim_due(at: datetime, worker: str, limit: int, *, stale_after: timedelta) -> tuple[list[int], int]:
    """Take up to `limit` due rows for this worker; returns (ids, rows reclaimed from a dead worker)."""
    begin_write_transaction()
    reclaimed = db_session.execute(
        update(Notification).where(Notification.status == DeliveryStatus.SENDING,
                                   Notification.claimed_at < at - stale_after)
        .values(status=DeliveryStatus.PENDING, claimed_by=None).execution_options(synchronize_session=False)
    ).rowcount or 0
    start, end = office_hours()
    stmt = (select(Notification.id).where(Notification.status == DeliveryStatus.PENDING,
                                          Notification.due_at <= at, Notification.next_attempt_at <= at)
            .order_by(Notification.due_at, Notification.id).limit(limit))
    if not within_office_hours(at, start, end):
        stmt = stmt.where(Notification.is_urgent.is_(True))
    if db_session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(db_session.scalars(stmt))
    if ids:
        db_session.execute(
            update(Notification).where(Notification.id.in_(ids), Notification.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.SENDING, claimed_by=worker, claimed_at=at)
            .execution_options(synchronize_session=False))
    db_session.commit()
    mine = list(db_session.scalars(select(Notification.id).where(
        Notification.id.in_(ids), Notification.claimed_by == worker, Notification.status == DeliveryStatus.SENDING)))
    return mine, reclaimed


def deliver_due(at: datetime, transport: Transport, *, worker: str, batch: int = 200, max_batches: int = 1000,
                max_attempts: int = 5, stale_after: timedelta = timedelta(minutes=10),
                prepare_only: bool = False) -> DeliveryReport:
    """Send everything due at `at`. A job wrapper: it commits."""
    report = DeliveryReport()
    for _ in range(max_batches):
        ids, reclaimed = claim_due(at, worker, batch, stale_after=stale_after)
        report.reclaimed += reclaimed
        if not ids:
            break
        report.claimed += len(ids)
        for notification_id in ids:
            _deliver_one(notification_id, at, transport, worker, max_attempts, report, prepare_only)
        if len(ids) < batch:
            break
    return report


def _deliver_one(notification_id: int, at: datetime, transport: Transport, worker: str, max_attempts: int,
                 report: DeliveryReport, prepare_only: bool) -> None:
    # The session keeps objects across commits (expire_on_commit=False): forget them, so the claim
    # check and skip_reason() read what is committed now, not what an earlier load remembered.
    db_session.expire_all()
    notification = db_session.get(Notification, notification_id)
    if notification is None or notification.status != DeliveryStatus.SENDING or notification.claimed_by != worker:
        db_session.rollback()
        return
    reason = skip_reason(notification)
    if reason is not None:
        db_session.commit()  # end the read: a mark is written in a transaction that starts as a writer
        begin_write_transaction()
        notification.status = DeliveryStatus.SKIPPED
        notification.last_error = reason
        db_session.commit()
        report.skipped += 1
        return
    try:
        rendered = render(notification)
        message = build_email(notification, rendered)
        # Hold no transaction while the SMTP server talks, and write each mark in a transaction that
        # starts as a writer: on SQLite a transaction that read and then writes after another
        # connection committed fails at once with "database is locked" (no busy wait applies).
        db_session.commit()
        if not prepare_only:
            transport.send(message)
    except Exception as error:  # noqa: BLE001 - any failure is retried, then reported to HR
        db_session.rollback()
        begin_write_transaction()
        notification = db_session.get(Notification, notification_id, populate_existing=True)
        assert notification is not None
        notification.attempts += 1
        notification.last_error = f"{type(error).__name__}: {error}"[:500]
        notification.claimed_by = None
        if notification.attempts >= max_attempts:
            notification.status = DeliveryStatus.FAILED
            report.failed += 1
        else:
            notification.status = DeliveryStatus.PENDING
            notification.next_attempt_at = at + BACKOFF[min(notification.attempts - 1, len(BACKOFF) - 1)]
            report.retried += 1
        report.errors.append(notification.last_error)
        db_session.commit()
        log.warning("notification %s not sent: %s", notification_id, notification.last_error)
        return
    begin_write_transaction()
    notification.status = DeliveryStatus.SENT
    notification.sent_at = at
    notification.subject = rendered.subject
    notification.attempts += 1
    notification.last_error = ""
    db_session.commit()
    report.sent += 1
