"""Delivering the outbox: claim due rows, send each, mark it, one durable commit per message.

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
- Just before a message goes (rendered and composed, before its SMTP conversation), its
  standing is read again by primary key (`Standing`): its claim
  (still this sender's?) and its place (the enrolment's state, approval stage and approver, the
  session's sequence, which rises with every move and cancellation, and status). A place that
  changed since the batch was read is read again, and the message is checked and rendered anew:
  the reminder of a moved or cancelled session is skipped (the move queued its replacements), a
  request handed to another head is not sent to the old one, any other message goes with the new
  time and place. A message whose claim was taken back is left to its new owner. The one
  case that can still carry old facts is a move that commits after that read and before the
  mail server has accepted the message (its SMTP conversation): at most one message per
  sender, and the "session moved" notice follows it.
- A row's sent mark is written after the SMTP server accepted it and committed, durably (the
  server's own synchronous_commit), before the next message is handed to the server: with that
  message's standing read (`_Outbox`), or at the batch's end. If the process dies in between,
  the row is reclaimed and sent again with the same Message-ID: at most one message per sender;
  a message whose mark committed is never sent again. Standings and marks go through one
  connection held for the batch, through SQLAlchemy Core statements built once.
- Failures retry with backoff; after the last try the row is failed and shown to HR.
- Outside office hours only urgent kinds are claimed; the rest wait for the next office hours.

The transitions of a notification made here (`queue`, `void_pending` and `resend` are in
services.py), each guarded by the state it leaves (sending, and this worker's claim wherever
another sender may have taken the row back meanwhile):

    pending --claim_due--> sending --sent mark, then batch end--> sent
                           sending --skip_reason (at send time)--> skipped
                           sending --send failed--> pending (retry after a backoff) | failed (last try)
                           sending --recover_stale / release_claims--> pending (not sent) | sent (sent_at set)

Each transition is a line of the operator's log, with the rows' ids (app/reminders/outbox_log.py).
"""
from __future__ import annotations

import logging
import time as monotonic_clock
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Connection, Engine, Table, Update, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.business_days import within_office_hours
from app.core.clock import now
from app.core.db import among, begin_write_transaction, db_session, rows_changed
from app.core.mail import Transport
from app.enrollment.models import Enrolment
from app.reminders.facts import CalendarCache, ClaimedLetter, Facts, Standing
from app.reminders.models import DeliveryStatus, Notification, SenderHeartbeat
from app.reminders.outbox_log import changed, changed_many, error_fields
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


def _settle_claims(event: str, *claims: Any, **fields: Any) -> int:
    """Claimed rows matching `claims` whose sender has stopped: those it sent are finished (never
    sent again), the rest go back to pending. Returns how many went back. Both changes are logged
    as `event` (reclaimed, released) with the rows' ids, which the UPDATEs return."""
    finished = db_session.execute(
        update(Notification).where(*claims, Notification.sent_at.is_not(None))
        .values(status=DeliveryStatus.SENT, attempts=Notification.attempts + 1, last_error="")
        .returning(Notification.id, Notification.kind).execution_options(synchronize_session=False)).all()
    back = db_session.execute(
        update(Notification).where(*claims, Notification.sent_at.is_(None))
        .values(status=DeliveryStatus.PENDING, claimed_by=None)
        .returning(Notification.id, Notification.kind).execution_options(synchronize_session=False)).all()
    changed_many(event, finished, DeliveryStatus.SENDING.value, DeliveryStatus.SENT.value, **fields)
    changed_many(event, back, DeliveryStatus.SENDING.value, DeliveryStatus.PENDING.value, **fields)
    return len(back)


def recover_stale(at: datetime) -> int:
    """Take back the claims of every sender whose heartbeat had expired by `at` (or that has
    none), and forget those heartbeats. Returns how many rows went back to pending."""
    begin_write_transaction()
    alive = exists().where(SenderHeartbeat.worker == Notification.claimed_by, SenderHeartbeat.expires_at >= at)
    reclaimed = _settle_claims("reclaimed", Notification.status == DeliveryStatus.SENDING, ~alive)
    db_session.execute(delete(SenderHeartbeat).where(SenderHeartbeat.expires_at < at)
                       .execution_options(synchronize_session=False))
    db_session.commit()
    return reclaimed


def release_claims(worker: str) -> int:
    """Hand back at once what `worker` still holds and remove its heartbeat: called by a sender
    that stops, and for an extra sender process found dead. Returns how many went back."""
    begin_write_transaction()
    released = _settle_claims("released", Notification.status == DeliveryStatus.SENDING,
                              Notification.claimed_by == worker, worker=worker)
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
    changed_many("claimed", ((row.id, row.kind) for row in rows), DeliveryStatus.PENDING.value,
                 DeliveryStatus.SENDING.value, worker=worker)
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

# A claimed message's standing (see Standing) by primary keys, just before it goes.
_N = _NOTIFICATIONS.alias("n")
_E = cast(Table, Enrolment.__table__).alias("e")
_S = cast(Table, TrainingSession.__table__).alias("s")
_STANDING = (select(_N.c.status, _N.c.claimed_by, _N.c.sent_at.is_not(None), _E.c.state, _E.c.approval_stage,
                    _E.c.approver_id, _S.c.sequence, _S.c.status)
             .select_from(_N.outerjoin(_E, _E.c.id == bindparam("place_id"))
                          .outerjoin(_S, _S.c.id == _E.c.session_id))
             .where(_N.c.id == bindparam("letter_id")))
# PostgreSQL: the last message's mark and the next one's standing in one statement.
_SENT_AND_STANDING = _STANDING.add_cte(_SENT.cte("mark"))


def _deliver_batch(letters: Sequence[ClaimedLetter], at: datetime, transport: Transport, worker: str, max_attempts: int,
                   report: DeliveryReport, prepare_only: bool, calendars: CalendarCache, heartbeat: _Heartbeat) -> None:
    facts = Facts(letters, calendars)
    # Hold no transaction while the SMTP server talks (the outbox's end with each statement), and
    # write each mark in a transaction that starts as a writer: on SQLite a transaction that read
    # and then writes after another connection committed fails at once with "database is locked".
    db_session.commit()
    skipped: list[tuple[int, str]] = []
    with _outbox_connection() as connection:
        outbox = _Outbox(connection)
        try:
            _send_letters(letters, facts, at, transport, worker, max_attempts, report, prepare_only, outbox, skipped,
                          heartbeat)
        finally:
            outbox.flush()
    # Skips need no commit of their own: if one is lost, the row is simply checked again.
    begin_write_transaction()
    sent: Sequence[Any] = ()
    if outbox.sent_ids:
        sent = db_session.execute(update(Notification).where(
            among(Notification.id, outbox.sent_ids), Notification.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.SENT, attempts=Notification.attempts + 1, last_error="")
            .returning(Notification.id, Notification.kind)
            .execution_options(synchronize_session=False)).all()
    kinds = {letter.id: letter.kind for letter in letters}
    moved: list[tuple[int, str]] = []
    for notification_id, reason in skipped:
        if rows_changed(db_session.execute(update(Notification).where(
                Notification.id == notification_id, Notification.status == DeliveryStatus.SENDING,
                Notification.claimed_by == worker)
                .values(status=DeliveryStatus.SKIPPED, last_error=reason)
                .execution_options(synchronize_session=False))):
            moved.append((notification_id, reason))
    report.skipped += len(moved)
    db_session.commit()
    changed_many("sent", sent, DeliveryStatus.SENDING.value, DeliveryStatus.SENT.value, worker=worker)
    for notification_id, reason in moved:  # reason: a fixed phrase of rendering.skip_reason
        changed("skipped", notification_id, kinds[notification_id], DeliveryStatus.SENDING.value,
                DeliveryStatus.SKIPPED.value, None, worker=worker, reason=reason)


def _send_letters(letters: Sequence[ClaimedLetter], facts: Facts, at: datetime, transport: Transport, worker: str,
                  max_attempts: int, report: DeliveryReport, prepare_only: bool, outbox: _Outbox,
                  skipped: list[tuple[int, str]], heartbeat: _Heartbeat) -> None:
    for letter in letters:
        heartbeat.keep_alive()
        reason = skip_reason(letter, facts, at)
        if reason is not None:
            if db_session().in_transaction():  # the check read something (what a hand-over lists)
                db_session.commit()
            skipped.append((letter.id, reason))
            continue
        try:
            enrolment_id = int(letter.context.get("enrolment_id") or 0) or None
            place = facts.place(letter)
            rendered = render(letter, facts)
            mail = build_mail(letter, rendered, facts, sent_at=now())
            if db_session().in_transaction():  # rendering read something (a cohort, a waitlist)
                db_session.commit()
            standing = outbox.standing(letter.id, enrolment_id)  # and the previous message's mark commits
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
                if db_session().in_transaction():
                    db_session.commit()
            if not prepare_only:
                transport.send(mail)
        except Exception as error:
            db_session.rollback()
            _record_failure(letter.id, worker, error, at, max_attempts, report)
            continue
        outbox.sent(letter.id, at, rendered.subject)
        report.sent += 1


@contextmanager
def _outbox_connection() -> Iterator[Connection]:
    """The connection a batch's standings and sent marks go through, held while the batch is sent:
    through the session every message would pay a pool checkout with its ping, a BEGIN and a
    COMMIT, three round trips on PostgreSQL besides the statement's own (measured on the 2-core
    machine: ~1.3 ms a message against ~0.5 ms). It is one of the engine's, in autocommit (each
    statement commits by itself; SQLite's writers still BEGIN IMMEDIATE, app/core/db.py), or, when
    the app is bound to one connection, that one: the test suite binds one inside a transaction it
    rolls back, where each step is a savepoint (`_Outbox._step`), as every commit in the suite is."""
    bind = db_session.get_bind()
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT", sqlite_begin="IMMEDIATE")
    else:
        yield bind


class _Outbox:
    """Reads each message's standing just before it goes, and writes each sent mark, on the
    batch's connection (`_outbox_connection`). The mark of one message commits together with the
    standing read of the next, before that one is handed to the mail server (on PostgreSQL in one
    statement, a data-modifying WITH: one round trip a message; on SQLite two statements in one
    transaction), and the batch's last mark when the batch ends. So a crash can repeat at most
    one message, and a message whose mark committed is never sent again.

    Each step is a transaction of its own (a savepoint when the connection is already inside one:
    the test suite's); the statements are the same everywhere."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sent_ids: list[int] = []
        self._unwritten: dict[str, Any] | None = None  # the last mark, written with the next statement
        self._together = connection.dialect.name == "postgresql"  # SQLite has no UPDATE inside WITH

    def sent(self, notification_id: int, at: datetime, subject: str) -> None:
        """The mail server accepted this message: its mark goes with the next standing read, or
        with `flush` at the end of the batch, whichever comes first."""
        self.sent_ids.append(notification_id)
        self._unwritten = {"row_id": notification_id, "at": at, "subject_text": subject}

    def standing(self, notification_id: int, enrolment_id: int | None) -> Standing:
        """This message's standing as the database has it now; the last mark commits first."""
        asked = {"letter_id": notification_id, "place_id": enrolment_id}
        with self._step():
            if self._unwritten is None:
                row = self.connection.execute(_STANDING, asked).first()
            elif self._together:
                row = self.connection.execute(_SENT_AND_STANDING, {**self._unwritten, **asked}).first()
            else:
                self.connection.execute(_SENT, self._unwritten)
                row = self.connection.execute(_STANDING, asked).first()
        self._unwritten = None
        if row is None:
            return Standing(None, None, False, None, None, None, None, None)
        status, claimed_by, is_sent, state, stage, approver_id, sequence, session_status = row
        return Standing(status, claimed_by, bool(is_sent), state, stage, approver_id, sequence, session_status)

    def flush(self) -> None:
        """Write the batch's last mark."""
        if self._unwritten is not None:
            with self._step():
                self.connection.execute(_SENT, self._unwritten)
            self._unwritten = None

    def _step(self) -> Any:
        """A transaction of the step's own: begun and committed (in autocommit a COMMIT of
        nothing, each statement committed as it ran), or inside a transaction the connection is
        already in, a savepoint (as a Session joined with join_transaction_mode="create_savepoint")."""
        connection = self.connection
        return connection.begin_nested() if connection.in_transaction() else connection.begin()


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
    # Kept for HR's outbox page (the server's reply may name the address); the log has the class and code only.
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
    kind, attempt, status = notification.kind, notification.attempts, notification.status.value
    db_session.commit()
    changed("failed" if status == DeliveryStatus.FAILED else "retry", notification_id, kind,
            DeliveryStatus.SENDING.value, status, attempt, level=logging.WARNING, worker=worker,
            **error_fields(error))
