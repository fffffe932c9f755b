"""Delivering the outbox: claim due rows, send each, mark it, one commit per message.

- A claim is one UPDATE … RETURNING (status pending → sending, with the worker's name), so two
  schedulers running at once never take the same row (PostgreSQL skips rows locked by the other).
- Claims live as long as their sender: each claim writes the sender's row in `sender_heartbeats`
  in the same transaction, expiring SCHEDULER_LEASE_SECONDS later (the scheduler lease's TTL),
  and the sender renews it every third of that while it sends. Every sweep takes back the
  claims of senders whose heartbeat has expired (`recover_stale`, at its start and every third
  of the TTL), so a dead sender's messages go out again at most one TTL after its last
  heartbeat, at the next sweep. A sender that stops hands back what it still holds at once
  (`release_claims`); so does the parent of an extra sender process that died.
- A claimed batch is checked and rendered from facts read once for the whole batch
  (app/reminders/facts.py), and sent over one SMTP connection.
- Just before a message goes, its standing is read again by primary key (`Standing`): its claim
  (still this sender's?) and its place (the enrolment's state, the session's sequence, which
  rises with every move and cancellation, and status). A place that changed since the batch was
  read is read again, and the message is checked and rendered anew: the reminder of a moved or
  cancelled session is skipped (the move queued its replacements), any other message goes with
  the new time and place. A message whose claim was taken back is left to its new owner. The one
  case that can still carry old facts is a move that commits after that read and before the
  mail server has accepted the message (the rendering of that one message and its SMTP
  conversation): at most one message per sender, and the "session moved" notice follows it.
- A row is marked sent in its own commit after the SMTP server accepted it and before the next
  message goes. If the process dies between the two, the row is reclaimed and sent again with
  the same Message-ID; a message whose mark committed is never sent again.
- Failures retry with backoff; after the last try the row is failed and shown to HR.
- Outside office hours only urgent kinds are claimed; the rest wait for the next office hours.

The transitions of a notification made here (`queue`, `void_pending` and `resend` are in
services.py), each guarded by the state it leaves (sending, and this worker's claim wherever
another sender may have taken the row back meanwhile):

    pending --claim_due--> sending --sent mark, then batch end--> sent
                           sending --skip_reason (at send time)--> skipped
                           sending --send failed--> pending (retry after a backoff) | failed (last try)
                           sending --recover_stale / release_claims--> pending (not sent) | sent (sent_at set)
"""
from __future__ import annotations

import logging
import time as monotonic_clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Connection, Table, Update, bindparam, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.business_days import within_office_hours
from app.core.clock import now
from app.core.db import among, begin_write_transaction, db_session, rows_changed
from app.core.mail import Transport
from app.enrollment.models import Enrolment
from app.reminders.facts import CalendarCache, ClaimedLetter, Facts, Standing
from app.reminders.models import DeliveryStatus, Notification, SenderHeartbeat
from app.reminders.rendering import build_mail, render, skip_reason
from app.scheduling.models import TrainingSession

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
    rerendered: int = 0  # their place changed after the batch was read: checked and rendered anew
    claims_lost: int = 0  # taken back after this sender's heartbeat lapsed: left to their new owner
    errors: list[str] = field(default_factory=list)


def office_hours() -> tuple[time, time]:
    cfg = current_app.config
    return time.fromisoformat(cfg["OFFICE_HOURS_START"]), time.fromisoformat(cfg["OFFICE_HOURS_END"])


def lease_ttl() -> timedelta:
    """How long a sender's heartbeat lasts: the scheduler lease's TTL."""
    return timedelta(seconds=current_app.config["SCHEDULER_LEASE_SECONDS"])


def _beat(worker: str, until: datetime) -> None:
    """Write this sender's heartbeat, inside the caller's transaction."""
    insert = postgresql_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SenderHeartbeat).values(worker=worker, expires_at=until)
    db_session.execute(statement.on_conflict_do_update(index_elements=[SenderHeartbeat.worker],
                                                       set_={"expires_at": statement.excluded.expires_at}))


def renew_heartbeat(worker: str, until: datetime) -> None:
    """Say this sender is alive until `until`. Commits."""
    begin_write_transaction()
    _beat(worker, until)
    db_session.commit()


def _settle_claims(*claims: Any) -> int:
    """Claimed rows matching `claims` whose sender has stopped: those it sent are finished (never
    sent again), the rest go back to pending. Returns how many went back."""
    db_session.execute(
        update(Notification).where(*claims, Notification.sent_at.is_not(None))
        .values(status=DeliveryStatus.SENT, attempts=Notification.attempts + 1, last_error="")
        .execution_options(synchronize_session=False))
    return rows_changed(db_session.execute(
        update(Notification).where(*claims, Notification.sent_at.is_(None))
        .values(status=DeliveryStatus.PENDING, claimed_by=None).execution_options(synchronize_session=False)
    )) or 0


def recover_stale(at: datetime) -> int:
    """Take back the claims of every sender whose heartbeat had expired by `at` (or that has
    none), and forget those heartbeats. Returns how many rows went back to pending."""
    begin_write_transaction()
    alive = exists().where(SenderHeartbeat.worker == Notification.claimed_by, SenderHeartbeat.expires_at >= at)
    reclaimed = _settle_claims(Notification.status == DeliveryStatus.SENDING, ~alive)
    db_session.execute(delete(SenderHeartbeat).where(SenderHeartbeat.expires_at < at)
                       .execution_options(synchronize_session=False))
    db_session.commit()
    return reclaimed


def release_claims(worker: str) -> int:
    """Hand back at once what `worker` still holds and remove its heartbeat: called by a sender
    that stops, and for an extra sender process found dead. Returns how many went back."""
    begin_write_transaction()
    released = _settle_claims(Notification.status == DeliveryStatus.SENDING, Notification.claimed_by == worker)
    db_session.execute(delete(SenderHeartbeat).where(SenderHeartbeat.worker == worker)
                       .execution_options(synchronize_session=False))
    db_session.commit()
    return released


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
    pick = (select(Notification.id).where(*due_conditions(at))
            .order_by(Notification.due_at, Notification.id).limit(limit))
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


def claim_due(at: datetime, worker: str, limit: int, *, alive_until: datetime | None = None) -> list[ClaimedLetter]:
    """Take up to `limit` due rows for this worker (see claim_statement), in their due order. The
    worker's heartbeat (until `alive_until`, by default `at` plus the lease TTL) is written in the
    same transaction, so no claim stands without one."""
    begin_write_transaction()
    _beat(worker, alive_until or at + lease_ttl())
    rows = db_session.execute(claim_statement(at, worker, limit, db_session.get_bind().dialect.name)).all()
    db_session.commit()
    return sorted((ClaimedLetter(*row) for row in rows), key=lambda letter: (letter.due_at, letter.id))


class _Heartbeat:
    """A sender's clock and heartbeat. The sweep's time is `at` at its start and moves on with the
    monotonic clock (a sweep run with --now keeps its own time base); the heartbeat is renewed,
    and other senders' expired claims are looked for, every third of the TTL."""

    def __init__(self, worker: str, at: datetime, ttl: timedelta) -> None:
        self.worker, self.ttl = worker, ttl
        self._at, self._start = at, monotonic_clock.monotonic()
        self._period = ttl.total_seconds() / 3
        self._next_beat = self._next_recovery = self._start

    def now(self) -> datetime:
        return self._at + timedelta(seconds=monotonic_clock.monotonic() - self._start)

    def written(self) -> datetime:
        """The expiry a heartbeat written now carries (a claim writes one too)."""
        self._next_beat = monotonic_clock.monotonic() + self._period
        return self.now() + self.ttl

    def keep_alive(self) -> None:
        if monotonic_clock.monotonic() >= self._next_beat:
            renew_heartbeat(self.worker, self.written())

    def recovery_due(self) -> bool:
        if monotonic_clock.monotonic() < self._next_recovery:
            return False
        self._next_recovery = monotonic_clock.monotonic() + self._period
        return True


def deliver_due(at: datetime, transport: Transport, *, worker: str, batch: int = 200, max_batches: int = 1000,
                max_attempts: int = 5, prepare_only: bool = False) -> DeliveryReport:
    """Send everything due at `at`. A job wrapper: it commits. Its claims live on its heartbeat
    (SCHEDULER_LEASE_SECONDS); when it returns (or fails) it hands back anything still claimed."""
    report = DeliveryReport()
    calendars = CalendarCache()
    heartbeat = _Heartbeat(worker, at, lease_ttl())
    try:
        with transport.batch():
            for _ in range(max_batches):
                if heartbeat.recovery_due():  # at the start, and now and then in a long sweep
                    report.reclaimed += recover_stale(heartbeat.now())
                letters = claim_due(at, worker, batch, alive_until=heartbeat.written())
                if not letters:
                    break
                report.claimed += len(letters)
                _deliver_batch(letters, at, transport, worker, max_attempts, report, prepare_only, calendars,
                               heartbeat)
                if len(letters) < batch:
                    break
    finally:
        try:
            release_claims(worker)
        except Exception:
            db_session.rollback()
            log.warning("sender %s could not hand back its claims; they return when its heartbeat expires",
                        worker, exc_info=True)
    return report


# The mark that must commit between one message and the next touches no indexed column (one page
# written, a HOT update on PostgreSQL); status and attempts follow for the whole batch at its end,
# or, if this process dies first, at the next recovery (rows with sent_at are never sent again).
_NOTIFICATIONS = cast(Table, Notification.__table__)
_SENT = (update(_NOTIFICATIONS).where(_NOTIFICATIONS.c.id == bindparam("row_id"))
         .values(sent_at=bindparam("at"), subject=bindparam("subject_text")))


def _deliver_batch(letters: Sequence[ClaimedLetter], at: datetime, transport: Transport, worker: str, max_attempts: int,
                   report: DeliveryReport, prepare_only: bool, calendars: CalendarCache, heartbeat: _Heartbeat) -> None:
    facts = Facts(letters, calendars)
    # Hold no transaction while the SMTP server talks, and write each mark in a transaction that
    # starts as a writer: on SQLite a transaction that read and then writes after another
    # connection committed fails at once with "database is locked" (no busy wait applies).
    db_session.commit()
    skipped: list[tuple[int, str]] = []
    marks = _SentMarks()
    try:
        _send_letters(letters, facts, at, transport, worker, max_attempts, report, prepare_only, marks, skipped,
                      heartbeat)
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
        report.skipped += rows_changed(db_session.execute(update(Notification).where(
            Notification.id == notification_id, Notification.status == DeliveryStatus.SENDING,
            Notification.claimed_by == worker)
            .values(status=DeliveryStatus.SKIPPED, last_error=reason)
            .execution_options(synchronize_session=False))) or 0
    db_session.commit()


def _send_letters(letters: Sequence[ClaimedLetter], facts: Facts, at: datetime, transport: Transport, worker: str,
                  max_attempts: int, report: DeliveryReport, prepare_only: bool, marks: _SentMarks,
                  skipped: list[tuple[int, str]], heartbeat: _Heartbeat) -> None:
    for letter in letters:
        heartbeat.keep_alive()
        reason = skip_reason(letter, facts, at)
        if reason is not None:
            skipped.append((letter.id, reason))
            continue
        try:
            enrolment_id = int(letter.context.get("enrolment_id") or 0) or None
            place = facts.place(letter)
            marks.ask(letter.id, enrolment_id)  # the standing, read while this message renders
            rendered = render(letter, facts)
            mail = build_mail(letter, rendered, facts, sent_at=now())
            standing = marks.answer()  # the previous message's mark has committed too
            if not standing.claimed_by_worker(worker):
                report.claims_lost += 1
                continue
            if enrolment_id is not None and not standing.matches(place):
                facts.reload(enrolment_id)
                db_session.commit()
                report.rerendered += 1
                reason = skip_reason(letter, facts, at)
                if reason is not None:
                    skipped.append((letter.id, reason))
                    continue
                rendered = render(letter, facts)
                mail = build_mail(letter, rendered, facts, sent_at=now())
            if not prepare_only:
                transport.send(mail)
        except Exception as error:
            db_session.rollback()
            _record_failure(letter.id, worker, error, at, max_attempts, report)
            continue
        marks.sent(letter.id, at, rendered.subject)
        report.sent += 1


_PREPARED = "manabi_sent_mark"


def _standing_sql(placeholders: tuple[str, str]) -> str:
    """A claimed message's standing (see Standing) by primary keys: (enrolment id, notification id)."""
    enrolment, notification = placeholders
    return (f"SELECT n.status, n.claimed_by, n.sent_at IS NOT NULL, e.state, e.approval_stage, s.sequence, s.status "
            f"FROM {Notification.__tablename__} AS n "
            f"LEFT JOIN {Enrolment.__tablename__} AS e ON e.id = {enrolment} "
            f"LEFT JOIN {TrainingSession.__tablename__} AS s ON s.id = e.session_id "
            f"WHERE n.id = {notification}")


def _standing(row: Sequence[Any] | None) -> Standing:
    if row is None:
        return Standing(None, None, False, None, None, None, None)
    status, claimed_by, is_sent, state, stage, sequence, session_status = row
    return Standing(status, claimed_by, is_sent in (True, 1, "t"), state, stage,  # as each driver path gives it
                    None if sequence is None else int(sequence), session_status)


class _SentMarks:
    """Writes each sent mark as its own single-statement transaction, committed before the next
    message is handed to the mail server, so a crash can repeat at most one message; and reads
    each message's standing just before it goes (`ask()` while it renders, `answer()` before it
    is handed to the mail server).

    Thousands of marks a second are the sweep's bottleneck, so outside the test suite they go
    straight to one driver connection held for the batch, in autocommit: no pool checkout and no
    ORM bookkeeping (together they cost more than the write). On PostgreSQL the last mark and the
    next message's standing are one prepared statement (a data-modifying WITH), sent without
    waiting (libpq's asynchronous API) before that message renders and collected after: one round
    trip per message, overlapping the rendering. The mark does not wait for its WAL flush
    (synchronous_commit off, on this connection while it sends): only if the database server
    itself crashes can the last fraction of a second of marks be lost, and those messages go out
    again with the same Message-ID, as when this process dies between a send and its mark. On
    SQLite the mark is written right after the send and the standing read after the rendering
    (both in-process, microseconds). The test suite binds the session to one connection inside a
    rolled-back transaction; there both go through the session, with the same effect.
    """

    def __init__(self) -> None:
        bind = db_session.get_bind()
        self.sent_ids: list[int] = []
        self._raw: Any = None
        self._libpq: Any = None
        self._awaiting = False  # PostgreSQL: a statement is in flight
        self._unwritten: tuple[int, datetime, str] | None = None  # PostgreSQL: goes with the next statement
        self._asked: tuple[int, int | None] = (0, None)
        self._at: tuple[datetime, Any] | None = None  # the sweep's time, converted once for the driver
        self._standing_sql: Any = None  # a text() clause for SQLAlchemy, or the driver's own SQL string
        table = _NOTIFICATIONS
        if isinstance(bind, Connection):
            self._standing_sql = text(_standing_sql((":enrolment_id", ":notification_id")))
            return
        self._raw = bind.raw_connection()
        if bind.dialect.name == "postgresql":
            self._raw.driver_connection.autocommit = True
            cursor = self._raw.cursor()
            cursor.execute("SET synchronous_commit TO OFF")
            # Prepared once per batch: the server then skips parsing and planning for each mark.
            cursor.execute(f"PREPARE {_PREPARED} (timestamptz, text, integer, integer, integer) AS "
                           f"WITH mark AS (UPDATE {table.name} SET sent_at = $1, subject = $2 WHERE id = $3) "
                           + _standing_sql(("$5", "$4")))
            self._libpq = self._raw.driver_connection.pgconn
        else:  # SQLite connections already run in autocommit (isolation_level None, see app/core/db.py)
            self._to_db = table.c.sent_at.type.bind_processor(bind.dialect) or (lambda value: value)
            self._sql = f"UPDATE {table.name} SET sent_at = ?, subject = ? WHERE id = ?"
            self._standing_sql = _standing_sql(("?", "?"))

    def sent(self, notification_id: int, at: datetime, subject: str) -> None:
        """The mail server accepted this message: mark it (on PostgreSQL, with the next statement)."""
        self.sent_ids.append(notification_id)
        if self._libpq is not None:
            self._unwritten = (notification_id, at, subject)
        elif self._raw is None:
            begin_write_transaction()
            db_session.execute(_SENT, {"row_id": notification_id, "at": at, "subject_text": subject})
            db_session.commit()
        else:
            cursor = self._raw.cursor()
            try:
                cursor.execute(self._sql, (self._driver_time(at), subject, notification_id))
            finally:
                cursor.close()

    def ask(self, notification_id: int, enrolment_id: int | None) -> None:
        """Start reading a message's standing (on PostgreSQL with the last mark, without waiting)."""
        self._asked = (notification_id, enrolment_id)
        if self._libpq is None:
            return
        self._collect()
        mark = self._unwritten
        self._unwritten = None
        self._libpq.send_query_prepared(_PREPARED.encode(), [
            self._driver_time(mark[1]) if mark else None, mark[2].encode() if mark else None,
            str(mark[0]).encode() if mark else None, str(notification_id).encode() if notification_id else None,
            str(enrolment_id).encode() if enrolment_id else None])
        while self._libpq.flush():
            pass
        self._awaiting = True

    def answer(self) -> Standing:
        """The standing asked for; raises if the last mark failed."""
        notification_id, enrolment_id = self._asked
        if self._libpq is not None:
            return _standing(self._collect())
        if self._raw is None:
            return _standing(db_session.execute(self._standing_sql, {
                "enrolment_id": enrolment_id, "notification_id": notification_id}).first())
        cursor = self._raw.cursor()
        try:
            cursor.execute(self._standing_sql, (enrolment_id, notification_id))
            return _standing(cursor.fetchone())
        finally:
            cursor.close()

    def _driver_time(self, at: datetime) -> Any:
        if self._at is None or self._at[0] != at:
            self._at = (at, at.isoformat().encode() if self._libpq is not None else self._to_db(at))
        return self._at[1]

    def _collect(self) -> list[Any] | None:
        """Wait for the statement in flight (PostgreSQL); its row, if any. Raises if it failed."""
        if not self._awaiting:
            return None
        from psycopg import pq

        self._awaiting = False
        errors, row = [], None
        while (result := self._libpq.get_result()) is not None:
            if result.status == pq.ExecStatus.TUPLES_OK:
                if result.ntuples:
                    row = [None if (value := result.get_value(0, column)) is None else value.decode()
                           for column in range(result.nfields)]
            elif result.status != pq.ExecStatus.COMMAND_OK:
                errors.append(result.get_error_message())
        if errors:
            raise RuntimeError(f"sent mark not written: {errors[0]}")
        return row

    def close(self) -> None:
        if self._raw is None:
            return
        try:
            self._collect()
            if self._unwritten is not None:  # the batch's last mark
                self.ask(0, None)
                self._collect()
            if self._libpq is not None:
                cursor = self._raw.cursor()
                cursor.execute(f"DEALLOCATE {_PREPARED}")
                cursor.execute("RESET synchronous_commit")
                self._raw.driver_connection.autocommit = False
        except BaseException:
            self._raw.invalidate()  # in an unknown state (prepared statement, autocommit): never reused
            raise
        finally:
            self._raw.close()  # back to the pool


def _record_failure(notification_id: int, worker: str, error: Exception, at: datetime, max_attempts: int,
                    report: DeliveryReport) -> None:
    begin_write_transaction()
    notification = db_session.scalars(
        select(Notification).where(Notification.id == notification_id, Notification.status == DeliveryStatus.SENDING,
                                   Notification.claimed_by == worker)
        .with_for_update().execution_options(populate_existing=True)).first()
    if notification is None:  # taken back meanwhile (this sender's heartbeat lapsed): its new owner decides
        db_session.commit()
        report.claims_lost += 1
        return
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
