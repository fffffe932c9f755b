from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, joinedload

from app.core.db import db_session
from app.reminders.models import DeliveryStatus, Notification, OptOut


def unread_statement(recipient: ColumnElement[int] | InstrumentedAttribute[int] | int) -> Select[int]:
    """How many messages the person has not read: what went out (or was due and failed)."""
    return select(func.count()).select_from(Notification).where(
        Notification.recipient_id == recipient, Notification.read_at.is_(None),
        Notification.status.in_((DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SENDING)))


def unread_count(employee_id: int) -> int:
    return db_session.scalar(unread_statement(employee_id)) or 0


def inbox_statement(employee_id: int) -> Select[Notification]:
    """What a person sees in the app: everything that went out (or was due and failed)."""
    return (select(Notification).where(
        Notification.recipient_id == employee_id,
        Notification.status.in_((DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SENDING)))
        .order_by(Notification.due_at.desc(), Notification.id.desc()))


def outbox_statement(status: str, kind: str) -> Select[Notification]:
    stmt = select(Notification).options(joinedload(Notification.recipient)).order_by(Notification.id.desc())
    if status in {s.value for s in DeliveryStatus}:
        stmt = stmt.where(Notification.status == status)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return stmt


def outbox_counts() -> dict[str, int]:
    rows = db_session.execute(select(Notification.status, func.count()).group_by(Notification.status))
    return {status.value if hasattr(status, "value") else status: count for status, count in rows}


def opted_out_kinds(employee_id: int) -> set[str]:
    return set(db_session.scalars(select(OptOut.kind).where(OptOut.employee_id == employee_id)))


def outbox_trouble(stale_before: datetime) -> tuple[int, int]:
    """For HR's home page: how many messages failed for good, and how many are stuck (claimed by a
    sender before `stale_before`, the scheduler lease's TTL ago, and neither sent nor taken back:
    no scheduler is sweeping). One statement."""
    failed = func.count().filter(Notification.status == DeliveryStatus.FAILED)
    stuck = func.count().filter(Notification.status == DeliveryStatus.SENDING, Notification.claimed_at < stale_before)
    row = db_session.execute(select(failed, stuck).where(
        Notification.status.in_((DeliveryStatus.FAILED, DeliveryStatus.SENDING)))).one()
    return int(row[0] or 0), int(row[1] or 0)


def outbox_backlog(at: datetime) -> tuple[dict[tuple[str, str], int], datetime | None]:
    """For the metrics scrape: how many messages wait (pending), are being sent or failed for good,
    by (status, kind), and since when the oldest message not yet sent could have gone (its next
    attempt is due by `at`: a retry waiting out its back-off is not late). One statement, whatever
    the size of the outbox (sent and void rows are not read)."""
    unsent = Notification.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING))
    oldest_due = func.min(Notification.next_attempt_at).filter(unsent, Notification.next_attempt_at <= at)
    rows = db_session.execute(
        select(Notification.status, Notification.kind, func.count(), oldest_due)
        .where(Notification.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)))
        .group_by(Notification.status, Notification.kind))
    counts: dict[tuple[str, str], int] = {}
    dues: list[datetime] = []
    for status, kind, count, due in rows:
        counts[(DeliveryStatus(status).value, kind)] = int(count)
        if due is not None:
            dues.append(due)
    return counts, min(dues, default=None)
