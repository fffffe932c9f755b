"""How the sweep treats a batch: the statements it reads do not grow with the batch, one SMTP
connection carries the batch, a dead worker's sent messages are finished rather than resent, and
staleness is judged at the sweep's own time."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import event, select, update

from app.core.business_days import is_business_day
from app.core.clock import TOKYO
from app.core.db import db_session
from app.core.mail import OutgoingMail, SmtpTransport, Transport
from app.enrollment.services import enrol
from app.reminders.delivery import deliver_due
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.services import queue
from tests import factories
from tests.mailsink import MailSink, _Handler
from tests.querycount import count_statements
from tests.reminders.test_notifications import office_time


class Collect(Transport):
    def __init__(self) -> None:
        self.mails: list[OutgoingMail] = []

    def send(self, mail: OutgoingMail) -> None:
        self.mails.append(mail)


def confirmations(count: int) -> list[int]:
    division = factories.unit("一括送信検証課")
    session = factories.training_session(factories.course(), capacity=count + 5, starts_in=timedelta(days=30))
    enrolment_ids = []
    for _ in range(count):
        person = factories.employee(division, "SHUNIN")
        enrolment_ids.append(enrol(person, person, session, override_rules=True).enrolment.id)
    db_session.commit()
    return list(db_session.scalars(select(Notification.id).where(
        Notification.enrolment_id.in_(enrolment_ids), Notification.kind == "enrolment_confirmed")))


def reads_during_delivery(ctx, count: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(reads of the batch's facts, reads of one message's standing just before it goes)."""
    ids = confirmations(count)
    transport = Collect()
    with count_statements(ctx) as counter:
        report = deliver_due(office_time(), transport, worker="w")
    assert report.sent == len(ids) == len(transport.mails) == count
    # A standing is a SELECT of its own, or (PostgreSQL) one that carries the previous mark: WITH mark AS (UPDATE …)
    standing = [s for s in counter.statements if "SELECT n.status, n.claimed_by" in s]
    reads = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT") and s not in standing]
    marks = [s for s in counter.statements if "UPDATE notifications SET sent_at" in s]
    assert len(marks) == count, marks  # one sent mark a message, each in a statement that commits it
    return len(reads), len(standing)


def test_reads_per_batch_do_not_grow_with_the_number_of_messages(ctx) -> None:  # type: ignore[no-untyped-def]
    """The facts are read once per batch; each message adds one read by primary key, its standing
    (on PostgreSQL in the same statement as the previous message's sent mark: one round trip)."""
    few, few_standing = reads_during_delivery(ctx, 3)
    many, many_standing = reads_during_delivery(ctx, 30)
    assert few == many, (few, many)
    assert (few_standing, many_standing) == (3, 30)


class CountingHandler(_Handler):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        self.sink.connections += 1  # type: ignore[attr-defined]
        session.host_name = hostname
        return responses


def test_one_smtp_connection_carries_a_whole_batch(ctx) -> None:  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    ids = confirmations(12)
    sink = MailSink()
    sink.connections = 0  # type: ignore[attr-defined]
    sink.controller = Controller(CountingHandler(sink), hostname="127.0.0.1", port=sink.port)
    sink.controller.start()
    try:
        report = deliver_due(office_time(), SmtpTransport("127.0.0.1", sink.port), worker="w")
        sink.wait_for(len(ids))
    finally:
        sink.stop()
    assert report.sent == 12 and len(sink.messages) == 12
    assert sink.connections == 1  # type: ignore[attr-defined]


def test_a_dead_workers_sent_message_is_finished_not_sent_again(ctx, mail_sink) -> None:  # type: ignore[no-untyped-def]
    sent_before_crash, never_sent = confirmations(2)
    at = office_time()
    crashed_at = at - timedelta(minutes=30)
    db_session.execute(update(Notification).where(Notification.id.in_([sent_before_crash, never_sent]))
                       .values(status=DeliveryStatus.SENDING, claimed_by="dead", claimed_at=crashed_at))
    db_session.execute(update(Notification).where(Notification.id == sent_before_crash)
                       .values(sent_at=crashed_at, subject="【まなび】受講が確定しました"))
    db_session.commit()

    report = deliver_due(at, SmtpTransport("127.0.0.1", mail_sink.port), worker="w")
    mail_sink.wait_for(1)

    assert (report.reclaimed, report.sent) == (1, 1)
    assert Counter(str(m["Message-ID"]) for m in mail_sink.messages) == Counter(
        {f"<notification-{never_sent}@{ctx.config['CALENDAR_UID_DOMAIN']}>": 1})
    rows = {n.id: n for n in db_session.scalars(select(Notification).where(
        Notification.id.in_([sent_before_crash, never_sent])))}
    for row in rows.values():
        db_session.refresh(row)
    assert (rows[sent_before_crash].status, rows[sent_before_crash].sent_at, rows[sent_before_crash].attempts) == (
        DeliveryStatus.SENT, crashed_at, 1)
    assert (rows[never_sent].status, rows[never_sent].sent_at) == (DeliveryStatus.SENT, at)


def test_a_reminder_is_judged_stale_at_the_sweeps_time_not_the_wall_clock(ctx) -> None:  # type: ignore[no-untyped-def]
    person = factories.employee(factories.unit("時刻判定課"), "SHUNIN")
    session = factories.training_session(factories.course(), starts_in=timedelta(days=3))
    place = enrol(person, person, session, override_rules=True).enrolment
    db_session.commit()
    deliver_due(office_time(), Collect(), worker="w")  # the confirmation
    reminder = queue(person.id, "session_reminder", f"sweep-time:{place.id}",
                     {"enrolment_id": place.id, "days": 1, "sequence_seen": session.sequence},
                     due_at=session.starts_at - timedelta(days=1), enrolment_id=place.id)
    db_session.commit()
    assert reminder is not None

    day = session.starts_at.astimezone(TOKYO).date() + timedelta(days=1)  # a catch-up run after an outage
    while not is_business_day(day):
        day += timedelta(days=1)
    at = datetime(day.year, day.month, day.day, 10, 0, tzinfo=TOKYO)
    transport = Collect()
    report = deliver_due(at, transport, worker="w")

    db_session.refresh(reminder)
    assert report.sent == 0 and report.skipped >= 1 and transport.mails == []
    assert (reminder.status, reminder.last_error) == (DeliveryStatus.SKIPPED, "session cancelled or already started")


def test_a_claim_reaches_its_rows_by_primary_key_even_with_stale_statistics(ctx) -> None:  # type: ignore[no-untyped-def]
    """Right after a scan queues thousands of reminders the planner's statistics still say the
    outbox has no pending rows; a claim must not then join every pending row against the pick
    (it did once: seconds per batch instead of milliseconds)."""
    from sqlalchemy import insert

    from app.reminders.delivery import claim_statement

    person = factories.employee(factories.unit("計画検証課"), "SHUNIN")
    due = office_time() - timedelta(minutes=5)
    connection = db_session.connection()
    if connection.dialect.name == "postgresql":
        # Stale for certain: statistics taken before the burst, whatever autovacuum did to this
        # cluster's table earlier in the run (that made the planner's choice vary between runs).
        connection.exec_driver_sql("ANALYZE notifications")
    db_session.execute(insert(Notification), [
        {"recipient_id": person.id, "kind": "enrolment_confirmed", "dedupe_key": f"plan:{n}", "context": {},
         "is_urgent": False, "status": DeliveryStatus.PENDING, "due_at": due, "next_attempt_at": due, "attempts": 0,
         "last_error": "", "subject": "", "created_at": due} for n in range(3000)])
    statement = claim_statement(office_time(), "w", 500, connection.dialect.name)
    seen = []

    def capture(conn, cursor, sql, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((sql, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        nested = connection.begin_nested()
        assert len(connection.execute(statement).all()) == 500
        nested.rollback()
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    sql, parameters = next((sql, p) for sql, p in seen if sql.lstrip().upper().startswith("UPDATE"))
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        # What a user notices is the time a claim takes with a large backlog: the update must reach
        # the picked rows through an index condition on id, never by a join or a scan of every
        # pending row. Which index the planner takes for that (the primary key, or another index
        # that ends in id) is its own business and may differ from one fresh cluster to the next.
        (document,) = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, parameters).one()
        nodes = list(_plan_nodes(document[0]["Plan"]))
        kinds = [node["Node Type"] for node in nodes]
        assert "Nested Loop" not in kinds and "Hash Join" not in kinds and "Merge Join" not in kinds, kinds
        assert any("id = ANY" in node.get("Index Cond", "") for node in nodes), kinds
    else:
        plan = "\n".join(str(row[-1]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters))
        assert "SEARCH notifications USING INTEGER PRIMARY KEY" in plan, plan


def _plan_nodes(node: dict):  # type: ignore[no-untyped-def,type-arg]
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_the_backlog_that_starts_extra_senders_counts_only_what_may_go_now(ctx) -> None:  # type: ignore[no-untyped-def]
    """At night only urgent mail goes, so a night of waiting non-urgent mail starts no sender
    processes every half minute; in office hours the count stops at what it needs to know."""
    from sqlalchemy import insert

    from app.reminders.senders import due_backlog

    person = factories.employee(factories.unit("夜間検証課"), "SHUNIN")
    morning = office_time()
    due = morning - timedelta(days=1)
    db_session.execute(insert(Notification), [
        {"recipient_id": person.id, "kind": "enrolment_confirmed", "dedupe_key": f"night:{n}", "context": {},
         "is_urgent": n < 3, "status": DeliveryStatus.PENDING, "due_at": due, "next_attempt_at": due, "attempts": 0,
         "last_error": "", "subject": "", "created_at": due} for n in range(600)])
    night = morning.replace(hour=23)
    assert due_backlog(night, 401) == 3
    assert due_backlog(morning, 401) == 401
