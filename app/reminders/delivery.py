"""Delivering the outbox: claim due rows, send each, mark it, one commit per message.

- A claim is one UPDATE … RETURNING (status pending → sending, with the worker's name), so two
  schedulers running at once never take the same row (PostgreSQL skips rows locked by the other).
  Stale claims of a dead worker are recovered at the start of a sweep and every `stale_after / 2`.
- A claimed batch is checked and rendered from facts read once for the whole batch
  (app/reminders/facts.py), and sent over one SMTP connection.
- A row is marked sent in its own commit right after the SMTP server accepted it. If the process
  dies between the two, the row is reclaimed after `stale_after` and sent again with the same
  Message-ID; a message whose mark committed is never sent again. A batch that is still sending
  after half of `stale_after` (a very slow mail server) hands its unsent rows back rather than
  risk a second worker reclaiming them while this one still sends.
- Failures retry with backoff; after the last try the row is failed and shown to HR.
- Outside office hours only urgent kinds are claimed; the rest wait for the next office hours.
"""
from __future__ import annotations

import logging
import time as monotonic_clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Update, bindparam, func, select, update

from app.business_days import within_office_hours
from app.clock import now
from app.db import among, begin_write_transaction, db_session
from app.mail import Transport
from app.reminders.facts import CalendarCache, ClaimedLetter, Facts
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.rendering import build_mail, render, skip_reason

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


def recover_stale(at: datetime, stale_after: timedelta) -> int:
    """Rows a dead worker claimed more than `stale_after` ago: those it sent are finished (never
    sent again), the rest go back to pending. Returns how many went back."""
    begin_write_transaction()
    stale = (Notification.status == DeliveryStatus.SENDING, Notification.claimed_at < at - stale_after)
    db_session.execute(
        update(Notification).where(*stale, Notification.sent_at.is_not(None))
        .values(status=DeliveryStatus.SENT, attempts=Notification.attempts + 1, last_error="")
        .execution_options(synchronize_session=False))
    reclaimed = db_session.execute(
        update(Notification).where(*stale, Notification.sent_at.is_(None))
        .values(status=DeliveryStatus.PENDING, claimed_by=None).execution_options(synchronize_session=False)
    ).rowcount or 0
    db_session.commit()
    return reclaimed


def due_conditions(at: datetime) -> list[Any]:
    """What makes a row ready to send at `at`: pending, due, past its retry wait, and outside
    office hours only if urgent."""
    start, end = office_hours()
    conditions = [Notification.status == DeliveryStatus.PENDING, Notification.due_at <= at,
                  Notification.next_attempt_at <= at]
    if not within_office_hours(at, start, end):
        conditions.append(Notification.is_urgent.is_(True))
    return conditions


def claim_statement(at: datetime, worker: str, limit: int, dialect: str) -> Update:
    """The one statement that claims a batch: up to `limit` due rows, oldest first (on PostgreSQL
    skipping rows another worker has locked), marked sending with the worker's name, returned
    with what rendering needs."""
    pick = select(Notification.id).where(*due_conditions(at)).order_by(Notification.due_at, Notification.id).limit(limit)
    if dialect == "postgresql":
        # `id = ANY(ARRAY(pick))`: the pick runs once (an InitPlan) and the update goes by primary
        # key. With `IN (pick)` the planner, misled by statistics that predate a burst of new
        # rows, chose a nested loop over every pending row: seconds per claim instead of ms.
        chosen = Notification.id == func.any(func.array(pick.with_for_update(skip_locked=True).scalar_subquery()))
    else:
        chosen = Notification.id.in_(pick.scalar_subquery())
    # No second status test outside the pick: the pick locked its rows (or SQLite's one writer
    # holds the database), and a status test there made the planner prefer the status index.
    return (update(Notification).where(chosen)
            .values(status=DeliveryStatus.SENDING, claimed_by=worker, claimed_at=at)
            .returning(Notification.id, Notification.kind, Notification.recipient_id, Notification.context,
                       Notification.due_at)
            .execution_options(synchronize_session=False))


def claim_due(at: datetime, worker: str, limit: int) -> list[ClaimedLetter]:
    """Take up to `limit` due rows for this worker (see claim_statement), in their due order."""
    begin_write_transaction()
    rows = db_session.execute(claim_statement(at, worker, limit, db_session.get_bind().dialect.name)).all()
    db_session.commit()
    return sorted((ClaimedLetter(*row) for row in rows), key=lambda letter: (letter.due_at, letter.id))


def deliver_due(at: datetime, transport: Transport, *, worker: str, batch: int = 200, max_batches: int = 1000,
                max_attempts: int = 5, stale_after: timedelta = timedelta(minutes=10),
                prepare_only: bool = False) -> DeliveryReport:
    """Send everything due at `at`. A job wrapper: it commits."""
    report = DeliveryReport()
    calendars = CalendarCache()
    next_recovery = monotonic_clock.monotonic()
    with transport.batch():
        for _ in range(max_batches):
            if monotonic_clock.monotonic() >= next_recovery:  # at the start, and now and then in a long sweep
                report.reclaimed += recover_stale(at, stale_after)
                next_recovery = monotonic_clock.monotonic() + stale_after.total_seconds() / 2
            letters = claim_due(at, worker, batch)
            if not letters:
                break
            report.claimed += len(letters)
            deadline = monotonic_clock.monotonic() + stale_after.total_seconds() / 2
            _deliver_batch(letters, at, transport, worker, max_attempts, report, prepare_only, deadline, calendars)
            if len(letters) < batch:
                break
    return report


# The mark that must commit between one message and the next touches no indexed column (one page
# written, a HOT update on PostgreSQL); status and attempts follow for the whole batch at its end,
# or, if this process dies first, at the next recovery (rows with sent_at are never sent again).
_SENT = (update(Notification.__table__).where(Notification.__table__.c.id == bindparam("row_id"))
         .values(sent_at=bindparam("at"), subject=bindparam("subject_text")))


def _deliver_batch(letters: Sequence[ClaimedLetter], at: datetime, transport: Transport, worker: str, max_attempts: int,
                   report: DeliveryReport, prepare_only: bool, deadline: float, calendars: CalendarCache) -> None:
    facts = Facts(letters, calendars)
    # Hold no transaction while the SMTP server talks, and write each mark in a transaction that
    # starts as a writer: on SQLite a transaction that read and then writes after another
    # connection committed fails at once with "database is locked" (no busy wait applies).
    db_session.commit()
    skipped: list[tuple[int, str]] = []
    marks = _SentMarks()
    try:
        _send_letters(letters, facts, at, transport, worker, max_attempts, report, prepare_only, deadline, marks,
                      skipped)
    finally:
        marks.close()
    # Skips need no commit of their own: if one is lost, the row is simply checked again.
    begin_write_transaction()
    if marks.sent_ids:
        db_session.execute(update(Notification).where(
            among(Notification.id, marks.sent_ids), Notification.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.SENT, attempts=Notification.attempts + 1, last_error="")
            .execution_options(synchronize_session=False))
    for notification_id, reason in skipped:
        db_session.execute(update(Notification).where(Notification.id == notification_id)
                           .values(status=DeliveryStatus.SKIPPED, last_error=reason)
                           .execution_options(synchronize_session=False))
    db_session.commit()
    report.skipped += len(skipped)


def _send_letters(letters: Sequence[ClaimedLetter], facts: Facts, at: datetime, transport: Transport, worker: str,
                  max_attempts: int, report: DeliveryReport, prepare_only: bool, deadline: float,
                  marks: _SentMarks, skipped: list[tuple[int, str]]) -> None:
    for index, letter in enumerate(letters):
        if monotonic_clock.monotonic() > deadline:
            _hand_back([later.id for later in letters[index:]], worker)
            break
        reason = skip_reason(letter, facts, at)
        if reason is not None:
            skipped.append((letter.id, reason))
            continue
        try:
            rendered = render(letter, facts)
            mail = build_mail(letter, rendered, facts, sent_at=now())
            marks.confirm()  # the previous message's mark has committed before this one goes out
            if not prepare_only:
                transport.send(mail)
        except Exception as error:  # noqa: BLE001 - any failure is retried, then reported to HR
            db_session.rollback()
            _record_failure(letter.id, error, at, max_attempts, report)
            continue
        marks.sent(letter.id, at, rendered.subject)
        report.sent += 1


_PREPARED = "manabi_sent_mark"


class _SentMarks:
    """Writes each sent mark as its own single-statement transaction, committed before the next
    message is handed to the mail server (`confirm()`), so a crash can repeat at most one message.

    Thousands of marks a second are the sweep's bottleneck, so outside the test suite they go
    straight to one driver connection held for the batch, in autocommit: no pool checkout and no
    ORM bookkeeping (together they cost more than the write). On PostgreSQL the mark is sent
    without waiting (libpq's asynchronous API) and its result is collected by `confirm()` just
    before the next send, so the round trip overlaps the rendering of the next message; and it does
    not wait for its WAL flush (synchronous_commit off, on this connection while it sends): only if
    the database server itself crashes can the last fraction of a second of marks be lost, and
    those messages go out again with the same Message-ID, as when this process dies between a send
    and its mark. The test suite binds the session to one connection inside a rolled-back
    transaction; there the marks go through the session, with the same effect.
    """

    def __init__(self) -> None:
        bind = db_session.get_bind()
        self.sent_ids: list[int] = []
        self._raw: Any = None
        self._libpq: Any = None
        self._awaiting = False
        self._at: tuple[datetime, Any] | None = None  # the sweep's time, converted once for the driver
        if isinstance(bind, Connection):
            return
        table = Notification.__table__
        self._raw = bind.raw_connection()
        if bind.dialect.name == "postgresql":
            self._raw.driver_connection.autocommit = True
            cursor = self._raw.cursor()
            cursor.execute("SET synchronous_commit TO OFF")
            # Prepared once per batch: the server then skips parsing and planning for each mark.
            cursor.execute(f"PREPARE {_PREPARED} (timestamptz, text, integer) AS "
                           f"UPDATE {table.name} SET sent_at = $1, subject = $2 WHERE id = $3")
            self._libpq = self._raw.driver_connection.pgconn
        else:  # SQLite connections already run in autocommit (isolation_level None, see app/db.py)
            self._to_db = table.c.sent_at.type.bind_processor(bind.dialect) or (lambda value: value)
            self._sql = f"UPDATE {table.name} SET sent_at = ?, subject = ? WHERE id = ?"

    def sent(self, notification_id: int, at: datetime, subject: str) -> None:
        self.confirm()
        self.sent_ids.append(notification_id)
        if self._raw is None:
            begin_write_transaction()
            db_session.execute(_SENT, {"row_id": notification_id, "at": at, "subject_text": subject})
            db_session.commit()
        elif self._libpq is not None:
            self._libpq.send_query_prepared(_PREPARED.encode(), [self._driver_time(at), subject.encode(),
                                                                  str(notification_id).encode()])
            while self._libpq.flush():
                pass
            self._awaiting = True
        else:
            cursor = self._raw.cursor()
            try:
                cursor.execute(self._sql, (self._driver_time(at), subject, notification_id))
            finally:
                cursor.close()

    def _driver_time(self, at: datetime) -> Any:
        if self._at is None or self._at[0] != at:
            self._at = (at, at.isoformat().encode() if self._libpq is not None else self._to_db(at))
        return self._at[1]

    def confirm(self) -> None:
        """Wait until the last mark has committed; raise if it failed."""
        if not self._awaiting:
            return
        from psycopg import pq

        self._awaiting = False
        errors = []
        while (result := self._libpq.get_result()) is not None:
            if result.status != pq.ExecStatus.COMMAND_OK:
                errors.append(result.get_error_message())
        if errors:
            raise RuntimeError(f"sent mark not written: {errors[0]}")

    def close(self) -> None:
        if self._raw is None:
            return
        try:
            self.confirm()
            if self._libpq is not None:
                cursor = self._raw.cursor()
                cursor.execute(f"DEALLOCATE {_PREPARED}")
                cursor.execute("RESET synchronous_commit")
                self._raw.driver_connection.autocommit = False
        finally:
            self._raw.close()  # back to the pool


def _hand_back(notification_ids: list[int], worker: str) -> None:
    begin_write_transaction()
    db_session.execute(update(Notification).where(
        among(Notification.id, notification_ids), Notification.claimed_by == worker,
        Notification.status == DeliveryStatus.SENDING).values(status=DeliveryStatus.PENDING, claimed_by=None)
        .execution_options(synchronize_session=False))
    db_session.commit()


def _record_failure(notification_id: int, error: Exception, at: datetime, max_attempts: int,
                    report: DeliveryReport) -> None:
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
