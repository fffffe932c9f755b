"""Writing notifications: rows created in the caller's transaction, with a dedupe key per cause,
so a retried or repeated cause never doubles a message; reminders are recomputed or voided when
their session moves or their enrolment ends."""
from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.audit.services import record_event
from app.core.business_days import business_days_before
from app.core.clock import TOKYO, now
from app.core.db import db_session, rows_changed
from app.org.models import Employee
from app.reminders.kinds import DEFAULT_SESSION_REMINDER_OFFSETS, KINDS
from app.reminders.models import DeliveryStatus, KindSetting, Notification
from app.reminders.outbox_log import changed, changed_many

REMINDER_TIME = time(9, 0)  # reminders go out at 9:00 Japan time on their business day


def queue(recipient_id: int, kind: str, dedupe_key: str, context: dict[str, Any] | None = None, *,
          due_at: datetime | None = None, enrolment_id: int | None = None) -> Notification | None:
    """Add a notification unless one with the same dedupe key exists. Returns the new row or None."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind}")
    if db_session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key)) is not None:
        return None
    when = due_at or now()
    row = Notification(recipient_id=recipient_id, kind=kind, dedupe_key=dedupe_key[:200], context=context or {},
                       enrolment_id=enrolment_id, is_urgent=KINDS[kind].urgent, status=DeliveryStatus.PENDING,
                       due_at=when, next_attempt_at=when, attempts=0, created_at=now())
    try:
        with db_session.begin_nested():
            db_session.add(row)
            db_session.flush()
    except IntegrityError:  # a concurrent transaction queued the same cause first
        return None
    changed("queued", row.id, kind, None, DeliveryStatus.PENDING.value, 0)  # in the caller's transaction
    return row


def queue_or_merge(recipient_id: int, kind: str, dedupe_key: str, list_key: str, items: list[int],
                   context: dict[str, Any] | None = None) -> bool:
    """One notice per cause that lists items (a head's weekly overdue list, what a transfer handed a
    head): queued with `items` under `context[list_key]`, or, while that notice is still pending,
    the new items added to it (one guarded UPDATE: a notice a sender has claimed, or sent, is left
    as it is). Returns True when a notice was queued (not when one was extended)."""
    row = queue(recipient_id, kind, dedupe_key, {**(context or {}), list_key: sorted(set(items))})
    if row is not None:
        return True
    found = db_session.execute(select(Notification.id, Notification.context).where(
        Notification.dedupe_key == dedupe_key[:200], Notification.status == DeliveryStatus.PENDING)).first()
    if found is None:
        return False
    listed = [int(i) for i in (found.context or {}).get(list_key, [])]
    merged = sorted({*listed, *items})
    if merged != sorted(listed):
        db_session.execute(
            update(Notification).where(Notification.id == found.id, Notification.status == DeliveryStatus.PENDING)
            .values(context={**found.context, list_key: merged}).execution_options(synchronize_session="fetch"))
    return False


def void_unsent(recipient_id: int, kind: str, *, enrolment_id: int | None = None,
                dedupe_key: str | None = None) -> int:
    """Void the recipient's notices of `kind` about one thing (an enrolment, or the one notice of a
    cause) that have not gone out: one guarded UPDATE from pending, so a notice a sender has
    already claimed is left to it (it reads the request again just before sending, and skips it
    if it is no longer the recipient's: app/reminders/rendering.py). Returns how many."""
    stmt = update(Notification).where(Notification.recipient_id == recipient_id, Notification.kind == kind,
                                      Notification.status == DeliveryStatus.PENDING)
    if enrolment_id is not None:
        stmt = stmt.where(Notification.enrolment_id == enrolment_id)
    if dedupe_key is not None:
        stmt = stmt.where(Notification.dedupe_key == dedupe_key)
    voided = db_session.execute(stmt.values(status=DeliveryStatus.VOID, last_error="handed over after a transfer")
                                .returning(Notification.id, Notification.kind)
                                .execution_options(synchronize_session="fetch")).all()
    changed_many("voided", voided, DeliveryStatus.PENDING.value, DeliveryStatus.VOID.value, reason="handed over")
    return len(voided)


def session_reminder_offsets() -> list[int]:
    setting = db_session.get(KindSetting, "session_reminder")
    if setting is not None and setting.offsets:
        return sorted({int(o) for o in setting.offsets if 0 <= int(o) <= 30}, reverse=True)
    return list(DEFAULT_SESSION_REMINDER_OFFSETS)


def void_pending(enrolment_id: int, kinds: tuple[str, ...] = ("session_reminder",)) -> int:
    voided = db_session.execute(
        update(Notification).where(Notification.enrolment_id == enrolment_id, Notification.kind.in_(kinds),
                                   Notification.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.VOID).returning(Notification.id, Notification.kind)
        .execution_options(synchronize_session="fetch")).all()
    changed_many("voided", voided, DeliveryStatus.PENDING.value, DeliveryStatus.VOID.value, enrolment_id=enrolment_id)
    return len(voided)


def schedule_session_reminders(enrolment: Any) -> list[Notification]:
    """(Re)create the reminders of a confirmed place: offsets in business days before the first
    meeting, at 9:00 Japan time. Old pending reminders of the enrolment are voided first."""
    void_pending(enrolment.id)
    training_session = enrolment.training_session
    first_day = training_session.starts_at.astimezone(TOKYO).date()
    created = []
    for offset in session_reminder_offsets():
        day = business_days_before(first_day, offset)
        due = datetime.combine(day, REMINDER_TIME, tzinfo=TOKYO)
        if due <= now() or due >= training_session.starts_at:
            continue
        row = queue(enrolment.employee_id, "session_reminder",
                    f"reminder:{enrolment.id}:{training_session.sequence}:{offset}",
                    {"enrolment_id": enrolment.id, "days": offset, "sequence_seen": training_session.sequence},
                    due_at=due, enrolment_id=enrolment.id)
        if row is not None:
            created.append(row)
    return created


def mark_read(recipient_id: int, notification_ids: list[int] | None = None) -> int:
    stmt = update(Notification).where(Notification.recipient_id == recipient_id, Notification.read_at.is_(None))
    if notification_ids is not None:
        stmt = stmt.where(Notification.id.in_(notification_ids))
    stmt = stmt.values(read_at=now()).execution_options(synchronize_session=False)
    return rows_changed(db_session.execute(stmt)) or 0


RESENDABLE = (DeliveryStatus.FAILED, DeliveryStatus.SENT, DeliveryStatus.SKIPPED)


def resend(actor: Employee, notification: Notification) -> bool:
    """HR sends a failed (or sent) message again: same row, same Message-ID, fresh attempts. One
    guarded UPDATE from a finished state: a message being sent right now, or already queued
    again by a second click, is left alone (False)."""
    before = notification.status.value
    moved = rows_changed(db_session.execute(
        update(Notification).where(Notification.id == notification.id, Notification.status.in_(RESENDABLE))
        .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now(), claimed_by=None,
                sent_at=None,  # a row with sent_at is never sent again (app/reminders/delivery.py)
                last_error="")
        .execution_options(synchronize_session=False)))
    db_session.refresh(notification)
    if not moved:
        return False
    changed("resend", notification.id, notification.kind, before, DeliveryStatus.PENDING.value, 0, actor_id=actor.id)
    record_event(actor, "reminders.resend", "notification", notification.id, before={"status": before},
                 after={"status": "pending"})
    return True


def set_kind_enabled(kind: str, enabled: bool, offsets: list[int] | None = None) -> None:
    setting = db_session.get(KindSetting, kind)
    if setting is None:
        setting = KindSetting(kind=kind, is_enabled=enabled, offsets=offsets)
        db_session.add(setting)
    setting.is_enabled = enabled
    if offsets is not None:
        setting.offsets = offsets
    db_session.flush()
