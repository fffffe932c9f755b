"""Robustness of the outbox delivery (ARCHITECTURE.md rules 5 and 6), against a real SMTP server.

The first two tests run real scheduler processes (`flask reminders deliver-due`) on a freshly
migrated database of their own with committed data (SQLite or PostgreSQL, whatever
MANABI_TEST_BACKEND says): two of them at once, and one killed in the middle of its batch and
restarted. The others run the delivery job in-process inside the usual rolled-back transaction:
the SMTP server down for a while, office hours, and reminders gone stale before they went out.

Every message carries `Message-ID: <notification-<row id>@…>`, so the sink can tell a second
copy of the same message from another message.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select, update

from app.core.business_days import is_business_day
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.core.mail import SmtpTransport
from app.enrollment.models import Enrolment
from app.enrollment.services import cancel, enrol
from app.org.models import Employee, RoleName
from app.reminders.delivery import (
    BACKOFF,
    claim_due,
    deliver_due,
    lease_ttl,
    recover_stale,
    release_claims,
    renew_heartbeat,
)
from app.reminders.models import DeliveryStatus, Notification, SenderHeartbeat
from app.reminders.rendering import _when
from app.reminders.services import queue, resend
from app.scheduling.models import TrainingSession
from app.scheduling.services import SessionDetails, cancel_session, update_session
from tests import factories
from tests.conftest import build_app, migrate
from tests.log_capture import append_output
from tests.mailsink import MailSink, _Handler, free_port

ROOT = Path(__file__).resolve().parents[2]
BULK = 120  # employees; two notices each: more than one claim batch (200) for two schedulers at once
KILLED_BATCH = 40  # notifications of the batch whose scheduler is killed
_REPORT = re.compile(r"claimed (\d+), sent (\d+), skipped (\d+), retrying (\d+), failed (\d+), reclaimed (\d+)")


def office_time(days_ahead: int = 1) -> datetime:
    """10:00 Japan time on a business day at least `days_ahead` days from now."""
    day = now().astimezone(TOKYO).date() + timedelta(days=days_ahead)
    while not is_business_day(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=TOKYO)


def message_id(app: Flask, notification_id: int) -> str:
    return f"<notification-{notification_id}@{app.config['CALENDAR_UID_DOMAIN']}>"


def arrivals(sink: MailSink) -> Counter[str]:
    with sink.lock:
        return Counter(str(m["Message-ID"]) for m in sink.messages)


def statuses(notification_ids: list[int]) -> dict[int, DeliveryStatus]:
    return dict(db_session.execute(select(Notification.id, Notification.status)
                                   .where(Notification.id.in_(notification_ids))).all())


# --- real scheduler processes on a database of their own ---------------------------------------


@dataclass
class Outbox:
    app: Flask
    database_url: str
    employee_ids: list[int]


@pytest.fixture(scope="module")
def outbox(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outbox]:
    """A freshly migrated database with BULK employees, committed for real (no test transaction)."""
    from app.org.reference import ensure_grades

    database_url = make_database_url()
    application = build_app(database_url, Path(tmp_path_factory.mktemp("outbox-uploads")))
    try:
        migrate(application)
        with application.app_context():
            ensure_grades()
            db_session.commit()
            division = factories.unit("配信検証課")
            employee_ids = [factories.employee(division, "SHUNIN").id for _ in range(BULK)]
        yield Outbox(application, database_url, employee_ids)
    finally:
        application.extensions["manabi.engine"].dispose()


def confirmations_for(site: Outbox, employee_ids: list[int], *, reminders_too: bool = False) -> list[int]:
    """Enrol the employees in a new session (no approval): one pending confirmation each, committed;
    with `reminders_too`, a session reminder each as well, due now."""
    with site.app.app_context():
        session = factories.training_session(factories.course(), capacity=len(employee_ids) + 10,
                                             starts_in=timedelta(days=30))
        enrolment_ids = []
        for employee_id in employee_ids:
            person = db_session.get(Employee, employee_id)
            assert person is not None
            enrolment_ids.append(enrol(person, person, session, override_rules=True).enrolment.id)
        db_session.commit()
        ids = list(db_session.scalars(select(Notification.id).where(
            Notification.enrolment_id.in_(enrolment_ids), Notification.kind == "enrolment_confirmed",
            Notification.status == DeliveryStatus.PENDING).order_by(Notification.id)))
        assert len(ids) == len(employee_ids)
        if reminders_too:
            for enrolment_id, employee_id in zip(enrolment_ids, employee_ids, strict=True):
                row = queue(employee_id, "session_reminder", f"robust:reminder:{enrolment_id}",
                            {"enrolment_id": enrolment_id, "days": 5, "sequence_seen": session.sequence},
                            enrolment_id=enrolment_id)
                assert row is not None
                ids.append(row.id)
            db_session.commit()
    return ids


def scheduler_process(site: Outbox, sink_port: int, at: datetime) -> subprocess.Popen[str]:
    """One run of the delivery job as its own OS process, the way cron or an operator runs it."""
    flask = ROOT / ".venv" / "bin" / "flask"
    command = [str(flask)] if flask.exists() else [sys.executable, "-m", "flask"]
    env = {**os.environ, "FLASK_APP": "wsgi", "MANABI_CONFIG": "test", "TEST_DATABASE_URL": site.database_url,
           "MAIL_TRANSPORT": "smtp", "MAIL_HOST": "127.0.0.1", "MAIL_PORT": str(sink_port),
           "CALENDAR_UID_DOMAIN": site.app.config["CALENDAR_UID_DOMAIN"]}
    return subprocess.Popen([*command, "reminders", "deliver-due", "--now", at.isoformat()], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> dict[str, int]:
    """Wait for a scheduler process; return its report (claimed, sent, … reclaimed)."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    append_output("flask reminders deliver-due", err)
    assert process.returncode == 0, err[-3000:]
    match = _REPORT.search(out)
    assert match, (out, err[-3000:])
    return dict(zip(("claimed", "sent", "skipped", "retried", "failed", "reclaimed"),
                    (int(n) for n in match.groups()), strict=True))


def test_two_scheduler_processes_at_once_deliver_each_message_exactly_once(outbox: Outbox) -> None:
    ids = confirmations_for(outbox, outbox.employee_ids, reminders_too=True)
    assert len(ids) > 200  # deliver_due claims 200 at a time: the two processes split the work
    at = office_time()
    sink = MailSink().start()
    try:
        processes = [scheduler_process(outbox, sink.port, at) for _ in range(2)]
        reports = [finish(p) for p in processes]
        sink.wait_for(len(ids), timeout=5)
        received = arrivals(sink)
    finally:
        sink.stop()
    assert sum(r["claimed"] for r in reports) == len(ids), reports
    assert sum(r["sent"] for r in reports) == len(ids), reports
    assert received == Counter({message_id(outbox.app, i): 1 for i in ids})
    with outbox.app.app_context():
        assert set(statuses(ids).values()) == {DeliveryStatus.SENT}
        claimers = set(db_session.scalars(select(Notification.claimed_by).where(Notification.id.in_(ids))))
    assert len(claimers) in (1, 2) and None not in claimers


class SlowSmtp(SmtpTransport):
    """This process's sender, which holds its first message until the extra sender process has
    claimed a batch of its own (importing the app in a new process can take seconds on a busy
    machine, long enough for this one to send everything alone), then sends a little slowly."""

    def __init__(self, host: str, port: int, *, database_url: str, other: str) -> None:
        super().__init__(host, port)
        self.database_url, self.other, self.waited = database_url, other, False

    def send(self, mail):  # type: ignore[no-untyped-def]
        if not self.waited:
            self.waited = True
            self._wait_for_the_other_sender()
        time.sleep(0.03)
        super().send(mail)

    def _wait_for_the_other_sender(self) -> None:
        from sqlalchemy import create_engine, func

        engine = create_engine(self.database_url)
        try:
            deadline = time.monotonic() + 120  # a bound, not a timing: the assertion below says what went wrong
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    if connection.scalar(select(func.count()).select_from(Notification)
                                         .where(Notification.claimed_by == self.other)):
                        return
                time.sleep(0.05)
        finally:
            engine.dispose()


def test_a_backlog_goes_out_from_two_sender_processes_each_message_exactly_once(outbox: Outbox) -> None:
    from app.reminders.senders import deliver_with_senders

    ids = confirmations_for(outbox, outbox.employee_ids, reminders_too=True)
    at = office_time()
    sink = MailSink().start()
    saved = dict(outbox.app.config)
    outbox.app.config.update(MAIL_TRANSPORT="smtp", MAIL_HOST="127.0.0.1", MAIL_PORT=sink.port)  # the extra sender's
    try:
        with outbox.app.app_context():
            report = deliver_with_senders(outbox.app, at, worker="first", senders=2, batch=40,
                                          transport=SlowSmtp("127.0.0.1", sink.port, other="first/1",
                                                             database_url=outbox.app.config["DATABASE_URL"]))
        sink.wait_for(len(ids), timeout=5)
        received = arrivals(sink)
    finally:
        outbox.app.config.clear()
        outbox.app.config.update(saved)
        sink.stop()
    assert not report.errors, report.errors
    assert report.claimed == report.sent == len(ids), report
    assert received == Counter({message_id(outbox.app, i): 1 for i in ids})
    with outbox.app.app_context():
        assert set(statuses(ids).values()) == {DeliveryStatus.SENT}
        claimers = Counter(db_session.scalars(select(Notification.claimed_by).where(Notification.id.in_(ids))))
    assert set(claimers) == {"first", "first/1"}, claimers  # the second process did take part


def test_a_few_due_messages_start_no_extra_sender(outbox: Outbox) -> None:
    from app.reminders.senders import deliver_with_senders

    ids = confirmations_for(outbox, outbox.employee_ids[:5])
    sink = MailSink().start()
    try:
        with outbox.app.app_context():
            report = deliver_with_senders(outbox.app, office_time(), worker="alone", senders=4, batch=40,
                                          transport=SmtpTransport("127.0.0.1", sink.port))
            claimers = set(db_session.scalars(select(Notification.claimed_by).where(Notification.id.in_(ids))))
        sink.wait_for(len(ids), timeout=5)
    finally:
        sink.stop()
    assert report.sent == len(ids) and claimers == {"alone"}


class KillingSink(MailSink):
    """A MailSink that SIGKILLs the sending process the moment it has stored the n-th message, before
    the client hears "250": the send is complete on the server, but its sent mark never commits."""

    def __init__(self, kill_at: int) -> None:
        super().__init__()
        self.kill_at = kill_at
        self.victim: int | None = None
        self.killed_on: str | None = None  # the Message-ID stored when the victim was killed

    def start(self) -> KillingSink:
        self.controller = Controller(_KillOnStore(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self


class _KillOnStore(_Handler):
    sink: KillingSink

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        with self.sink.lock:
            if self.sink.victim is not None and self.sink.killed_on is None \
                    and len(self.sink.messages) >= self.sink.kill_at:
                os.kill(self.sink.victim, signal.SIGKILL)
                self.sink.killed_on = str(self.sink.messages[-1]["Message-ID"])
        return reply


@pytest.mark.parametrize("moment", ["server_stored_message", "slow_server_mid_batch"])
def test_scheduler_killed_mid_batch_and_restarted_loses_nothing_and_resends_only_unmarked(
        outbox: Outbox, moment: str) -> None:
    """SIGKILL (no clean-up, no last commit: a power cut) after about half the batch arrived, either
    right after the server stored a message (so that one message went out but was never marked
    sent), or whenever the poll notices half of a slow server's arrivals.

    The dead scheduler's claims come back as soon as its heartbeat has expired, one lease TTL
    (SCHEDULER_LEASE_SECONDS) after the last one it wrote, not a fixed ten minutes after the claim.
    Times are given to the processes (--now), so nothing here waits for them to pass."""
    ids = confirmations_for(outbox, outbox.employee_ids[:KILLED_BATCH])
    expected = {message_id(outbox.app, i): i for i in ids}
    at = office_time()
    ttl = timedelta(seconds=outbox.app.config["SCHEDULER_LEASE_SECONDS"])
    sink: MailSink = KillingSink(kill_at=KILLED_BATCH // 2) if moment == "server_stored_message" \
        else MailSink(delay=0.1)
    sink.start()
    try:
        started = time.monotonic()
        process = scheduler_process(outbox, sink.port, at)
        try:
            if isinstance(sink, KillingSink):
                sink.victim = process.pid
                process.wait(timeout=60)
            else:
                deadline = time.monotonic() + 60
                while len(arrivals(sink)) < KILLED_BATCH // 2 and process.poll() is None \
                        and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert process.poll() is None, "the scheduler finished before it could be killed"
                os.kill(process.pid, signal.SIGKILL)
        finally:
            append_output("flask reminders deliver-due (killed)", process.communicate(timeout=30)[1])
        # The victim's own clock had run no longer than this when it died (its sweep time is `at`
        # plus that), so its last heartbeat expires no later than `at + lived + ttl`.
        lived = timedelta(seconds=time.monotonic() - started)
        assert process.returncode == -signal.SIGKILL
        time.sleep(0.2)  # let a message the dead scheduler left mid-DATA land (or be dropped)
        with outbox.app.app_context():
            at_kill = statuses(ids)
            # The mark committed after each send is sent_at; status follows per batch (or at reclaim).
            marked = set(db_session.scalars(select(Notification.id).where(
                Notification.id.in_(ids), Notification.sent_at.is_not(None))))
        in_flight = set(ids) - marked
        assert marked and in_flight, Counter(at_kill.values())
        assert all(at_kill[i] in (DeliveryStatus.SENDING, DeliveryStatus.SENT) for i in marked), at_kill
        assert all(at_kill[i] == DeliveryStatus.SENDING for i in in_flight), at_kill
        assert {expected[mid] for mid in arrivals(sink)} >= marked  # every mark follows its send

        sink.delay = 0.0
        # Too early: the heartbeat written with the claims (at `at` or later) has not expired yet.
        early = finish(scheduler_process(outbox, sink.port, at + ttl - timedelta(seconds=5)))
        assert early["claimed"] == early["reclaimed"] == 0, early
        # One TTL after the victim's last possible heartbeat, its claims are back and go out.
        back_by = at + lived + ttl + timedelta(seconds=5)
        report = finish(scheduler_process(outbox, sink.port, back_by))
        with sink.lock:
            messages = list(sink.messages)
    finally:
        sink.stop()
    assert report["reclaimed"] == len(in_flight) and report["sent"] == len(in_flight), report
    received = Counter(str(m["Message-ID"]) for m in messages)
    assert set(received) == set(expected), "a message was lost or a stranger was sent"
    twice = {mid: n for mid, n in received.items() if n > 1}
    # Only the message whose send finished but whose sent mark never committed may come twice.
    assert len(twice) <= 1 and set(twice.values()) <= {2}, twice
    assert all(expected[mid] in in_flight for mid in twice), "a message marked sent was sent again"
    if isinstance(sink, KillingSink):
        assert set(twice) == {sink.killed_on}
    # A second copy is recognisably the same message: one Message-ID per recipient, same subject.
    per_recipient: dict[str, set[tuple[str, str]]] = {}
    for m in messages:
        per_recipient.setdefault(m["To"].addresses[0].addr_spec, set()).add((str(m["Message-ID"]), str(m["Subject"])))
    assert len(per_recipient) == len(ids) and all(len(copies) == 1 for copies in per_recipient.values())
    with outbox.app.app_context():
        assert set(statuses(ids).values()) == {DeliveryStatus.SENT}


# --- a session changed while its mail is being sent (committed data, the sender's own paths) ----


@dataclass
class SessionMail:
    session_id: int
    confirmations: list[int]
    reminders: list[int]


def session_with_mail(site: Outbox, employee_ids: list[int]) -> SessionMail:
    """A session in 30 days with the employees enrolled: a confirmation each, then a reminder each,
    all due now and committed (the order a claim takes them in)."""
    ids = confirmations_for(site, employee_ids, reminders_too=True)
    with site.app.app_context():
        session_id = db_session.scalar(select(Enrolment.session_id).join(
            Notification, Notification.enrolment_id == Enrolment.id).where(Notification.id == ids[0]))
    assert session_id is not None
    return SessionMail(session_id, ids[:len(employee_ids)], ids[len(employee_ids):])


class ChangingTransport(SmtpTransport):
    """This process's SMTP client, with a hook: right after the server accepted the `after`-th
    message, HR's change is committed from another thread (its own session and connection, as a
    web request would), and the number of messages the server held by then is noted: every later
    arrival left this process after the change had committed."""

    def __init__(self, app: Flask, sink: MailSink, after: int, change: Callable[[], None]) -> None:
        super().__init__("127.0.0.1", sink.port, timeout=5)
        self.app, self.sink, self.after, self.change = app, sink, after, change
        self.count = 0
        self.arrived_before_change: int | None = None

    def send(self, mail):  # type: ignore[no-untyped-def]
        super().send(mail)
        self.count += 1
        if self.count == self.after:
            failures: list[BaseException] = []
            worker = threading.Thread(target=self._change, args=(failures,))
            worker.start()
            worker.join(timeout=30)
            assert not worker.is_alive() and not failures, failures
            with self.sink.lock:
                self.arrived_before_change = len(self.sink.messages)

    def _change(self, failures: list[BaseException]) -> None:
        try:
            with self.app.app_context():
                self.change()
                db_session.commit()
        except BaseException as error:
            failures.append(error)


def move_by(session_id: int, shift: timedelta) -> Callable[[], None]:
    def move() -> None:
        session = db_session.get(TrainingSession, session_id)
        assert session is not None
        details = SessionDetails(session.label, session.location, session.online_url, session.capacity,
                                 session.enrolment_opens_at, session.enrolment_closes_at,
                                 session.cancellation_deadline_at, session.approval_policy, session.notes)
        update_session(None, session, details, [(m.starts_at + shift, m.ends_at + shift) for m in session.meetings],
                       list(session.instructors))
    return move


def cancelled(session_id: int) -> Callable[[], None]:
    def cancel_it() -> None:
        session = db_session.get(TrainingSession, session_id)
        assert session is not None
        cancel_session(None, session, "講師急病")
    return cancel_it


def body(message) -> str:  # type: ignore[no-untyped-def]
    return message.get_body(("plain",)).get_content()


def test_a_session_moved_mid_sweep_no_message_with_the_old_date_leaves_after_the_move(outbox: Outbox) -> None:
    """The batch's facts are read once; the session moves after the 10th message. Every later
    message carries the new date (confirmations are rendered anew), or is not sent (a reminder of
    the old date: the move queued reminders for the new one)."""
    mail = session_with_mail(outbox, outbox.employee_ids[:30])
    at = office_time()
    with outbox.app.app_context():
        old_start = db_session.get(TrainingSession, mail.session_id).starts_at  # type: ignore[union-attr]
    new_start = old_start + timedelta(days=1, hours=2)
    old, new = _when(old_start, "ja"), _when(new_start, "ja")
    sink = MailSink().start()
    try:
        transport = ChangingTransport(outbox.app, sink, 10, move_by(mail.session_id, timedelta(days=1, hours=2)))
        with outbox.app.app_context():
            report = deliver_due(at, transport, worker="sweep")
        with sink.lock:
            messages = list(sink.messages)
    finally:
        sink.stop()
    assert transport.arrived_before_change == 10
    before, after = messages[:10], messages[10:]
    assert all(old in body(m) for m in before)
    stale = [str(m["Message-ID"]) for m in after if old in body(m)]
    assert stale == [], f"{len(stale)} messages with the old date after the move committed"
    assert len(after) == 20 and all(new in body(m) and m["X-Manabi-Kind"] == "enrolment_confirmed" for m in after)
    ics = [part.get_content() for m in after for part in m.iter_attachments()]
    assert len(ics) == 20 and all(f"DTSTART;TZID=Asia/Tokyo:{new_start.astimezone(TOKYO):%Y%m%dT%H%M%S}" in c
                                  for c in ics)
    assert report.sent == 30 and report.skipped == 30 and report.rerendered >= 1, report
    with outbox.app.app_context():
        assert set(statuses(mail.confirmations).values()) == {DeliveryStatus.SENT}
        assert set(db_session.execute(select(Notification.status, Notification.last_error).where(
            Notification.id.in_(mail.reminders)))) == {(DeliveryStatus.SKIPPED, "session moved since")}
        replacements = db_session.scalars(select(Notification.due_at).where(
            Notification.kind == "session_reminder", Notification.status == DeliveryStatus.PENDING,
            Notification.enrolment_id.in_(select(Enrolment.id).where(Enrolment.session_id == mail.session_id)))).all()
    assert len(replacements) >= 30 and all(due > at for due in replacements)  # the new date's reminders wait
    # The move's own notices, sent next, tell everyone the new date.
    sink = MailSink().start()
    try:
        with outbox.app.app_context():
            deliver_due(at + timedelta(minutes=1), SmtpTransport("127.0.0.1", sink.port, timeout=5), worker="sweep")
        with sink.lock:
            moved = [m for m in sink.messages if m["X-Manabi-Kind"] == "session_moved"]
    finally:
        sink.stop()
    assert len(moved) == 30 and all(new in body(m) and old not in body(m) for m in moved)


def test_a_session_cancelled_mid_sweep_no_reminder_goes_after_the_cancellation(outbox: Outbox) -> None:
    mail = session_with_mail(outbox, outbox.employee_ids[:30])
    at = office_time()
    sink = MailSink().start()
    try:
        transport = ChangingTransport(outbox.app, sink, 35, cancelled(mail.session_id))  # 30 confirmations, 5 reminders
        with outbox.app.app_context():
            report = deliver_due(at, transport, worker="sweep")
        with sink.lock:
            messages = list(sink.messages)
    finally:
        sink.stop()
    assert transport.arrived_before_change == 35 and len(messages) == 35
    assert Counter(m["X-Manabi-Kind"] for m in messages) == {"enrolment_confirmed": 30, "session_reminder": 5}
    assert report.sent == 35 and report.skipped == 25, report
    with outbox.app.app_context():
        left = db_session.execute(select(Notification.status).where(Notification.id.in_(mail.reminders[5:]))).scalars()
        assert set(left) == {DeliveryStatus.SKIPPED}


# --- in-process runs of the job inside the test transaction ------------------------------------


@pytest.fixture
def people(ctx: Flask) -> dict[str, list[Employee] | Employee]:
    division = factories.unit("配信障害検証課")
    return {"staff": [factories.employee(division, "SHUNIN") for _ in range(5)],
            "hr": factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))}


def smtp(port: int) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, timeout=5)


def enrol_all(staff: list[Employee], **session_options: object) -> tuple[object, list[int], list[int]]:
    """(session, enrolment ids, their pending confirmation ids)."""
    session = factories.training_session(factories.course(), capacity=50, **session_options)  # type: ignore[arg-type]
    enrolments = [enrol(p, p, session, override_rules=True).enrolment.id for p in staff]
    db_session.commit()
    confirmations = list(db_session.scalars(select(Notification.id).where(
        Notification.enrolment_id.in_(enrolments), Notification.kind == "enrolment_confirmed")))
    return session, enrolments, confirmations


def test_smtp_server_down_messages_wait_then_go_when_it_returns(ctx: Flask, people) -> None:  # type: ignore[no-untyped-def]
    _session, _enrolments, ids = enrol_all(people["staff"])
    port = free_port()  # nothing listens here yet
    at = office_time()

    down = deliver_due(at, smtp(port), worker="w1")
    assert (down.claimed, down.sent, down.retried, down.failed) == (len(ids), 0, len(ids), 0)
    rows = db_session.scalars(select(Notification).where(Notification.id.in_(ids))).all()
    assert {(r.status, r.attempts, r.next_attempt_at, r.claimed_by) for r in rows} == {
        (DeliveryStatus.PENDING, 1, at + BACKOFF[0], None)}
    assert all(r.last_error.startswith("ConnectionRefusedError") and r.sent_at is None for r in rows)

    sink = MailSink(port=port).start()
    try:
        waiting = deliver_due(at + BACKOFF[0] - timedelta(seconds=1), smtp(port), worker="w1")
        assert waiting.claimed == 0 and arrivals(sink) == Counter()  # the backoff is honoured
        back = deliver_due(at + BACKOFF[0], smtp(port), worker="w2")
        again = deliver_due(at + BACKOFF[0] + timedelta(hours=1), smtp(port), worker="w2")
        received = arrivals(sink)
    finally:
        sink.stop()
    assert (back.sent, again.claimed) == (len(ids), 0), (back, again)
    assert received == Counter({message_id(ctx, i): 1 for i in ids})
    for row in rows:
        db_session.refresh(row)
    assert {(r.status, r.attempts, r.last_error) for r in rows} == {(DeliveryStatus.SENT, 2, "")}


def test_after_the_last_retry_a_message_fails_and_hr_resend_delivers_it(ctx: Flask, people) -> None:  # type: ignore[no-untyped-def]
    _session, _enrolments, ids = enrol_all(people["staff"][:1])
    [notification_id] = ids
    port = free_port()
    at = office_time()
    tries = [at]
    for wait in BACKOFF[:4]:
        tries.append(tries[-1] + wait)
    for number, when in enumerate(tries, start=1):
        if number > 1:  # a second before the backoff ends the row is left alone
            assert deliver_due(when - timedelta(seconds=1), smtp(port), worker="w").claimed == 0, number
        report = deliver_due(when, smtp(port), worker="w")
        assert report.claimed == 1, (number, report)
        row = db_session.get(Notification, notification_id)
        assert row is not None and row.attempts == number, (number, report)
        assert row.status == (DeliveryStatus.FAILED if number == 5 else DeliveryStatus.PENDING)
    assert report.failed == 1 and "ConnectionRefusedError" in row.last_error

    sink = MailSink(port=port).start()
    try:
        later = tries[-1] + timedelta(hours=3)
        assert deliver_due(later, smtp(port), worker="w").claimed == 0  # failed stays failed
        assert resend(people["hr"], row) is True
        assert resend(people["hr"], row) is False  # a double click queues it once
        db_session.commit()
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)
        sent = deliver_due(later, smtp(port), worker="w")
        deliver_due(later + timedelta(minutes=5), smtp(port), worker="w")
        received = arrivals(sink)
    finally:
        sink.stop()
    assert sent.sent == 1 and received == Counter({message_id(ctx, notification_id): 1})
    db_session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 1, "")


def test_resend_leaves_a_message_that_is_being_sent_alone(ctx: Flask, people) -> None:  # type: ignore[no-untyped-def]
    """HR's resend is a guarded move from a finished state: clicking it while a sender holds
    the message must not reset the claim (the message would go twice)."""
    _session, _enrolments, ids = enrol_all(people["staff"][:1])
    [notification_id] = ids
    db_session.execute(update(Notification).where(Notification.id == notification_id)
                       .values(status=DeliveryStatus.SENDING, claimed_by="sender-1", claimed_at=office_time()))
    row = db_session.get(Notification, notification_id)
    db_session.refresh(row)
    assert resend(people["hr"], row) is False
    assert (row.status, row.claimed_by) == (DeliveryStatus.SENDING, "sender-1")


def friday_evening() -> datetime:
    day = now().astimezone(TOKYO).date() + timedelta(days=1)
    while not (day.weekday() == 4 and is_business_day(day)):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 20, 0, tzinfo=TOKYO)


def next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def test_outside_office_hours_only_urgent_kinds_go(ctx: Flask, people, mail_sink: MailSink) -> None:  # type: ignore[no-untyped-def]
    person = people["staff"][0]
    _session, [enrolment_id], _confirmations = enrol_all([person], starts_in=timedelta(days=40))
    evening = friday_evening()
    deliver_due(evening.replace(hour=10), smtp(mail_sink.port), worker="w")  # the enrolment's own notices
    mail_sink.clear()
    context = {"enrolment_id": enrolment_id}
    calm = queue(person.id, "enrolment_approved", "robust:evening:approved", context, due_at=evening,
                 enrolment_id=enrolment_id)
    urgent = queue(person.id, "session_moved", "robust:evening:moved", context, due_at=evening,
                   enrolment_id=enrolment_id)
    db_session.commit()
    assert calm is not None and urgent is not None and urgent.is_urgent and not calm.is_urgent

    at_eight = deliver_due(evening, smtp(mail_sink.port), worker="w")
    assert (at_eight.claimed, at_eight.sent) == (1, 1)
    assert arrivals(mail_sink) == Counter({message_id(ctx, urgent.id): 1})
    assert (calm.status, calm.attempts, calm.claimed_by) == (DeliveryStatus.PENDING, 0, None)

    saturday = evening.replace(hour=10) + timedelta(days=1)
    monday = next_business_day(evening.date())
    opening = datetime(monday.year, monday.month, monday.day, 8, 30, tzinfo=TOKYO)
    for quiet in (evening + timedelta(hours=3), saturday, opening - timedelta(minutes=1)):
        assert deliver_due(quiet, smtp(mail_sink.port), worker="w").claimed == 0, quiet
    assert deliver_due(opening, smtp(mail_sink.port), worker="w").sent == 1
    assert arrivals(mail_sink) == Counter({message_id(ctx, urgent.id): 1, message_id(ctx, calm.id): 1})
    db_session.refresh(calm)
    assert (calm.status, calm.sent_at) == (DeliveryStatus.SENT, opening)


def test_stale_reminders_are_skipped_and_never_sent(ctx: Flask, people, mail_sink: MailSink) -> None:  # type: ignore[no-untyped-def]
    kept_person, cancelling, in_cancelled, in_started = people["staff"][:4]
    day = office_time().date()
    morning = datetime(day.year, day.month, day.day, 8, 0, tzinfo=TOKYO)
    with time_machine.travel(morning, tick=False):
        later = factories.training_session(factories.course(), starts_in=timedelta(days=14))
        doomed = factories.training_session(factories.course(), starts_in=timedelta(days=14))
        today_at_11 = factories.training_session(factories.course(), starts_in=timedelta(hours=3),
                                                 closes_before=timedelta(hours=1), cancel_before=timedelta(hours=2))
        places = {who.id: enrol(who, who, s, override_rules=True).enrolment for who, s in (
            (kept_person, later), (cancelling, later), (in_cancelled, doomed), (in_started, today_at_11))}
        db_session.commit()
    deliver_due(morning.replace(hour=9), smtp(mail_sink.port), worker="w")  # the confirmations
    mail_sink.clear()

    reminders = {}
    for person_id, place in places.items():
        session = place.training_session
        reminders[person_id] = queue(person_id, "session_reminder", f"robust:stale:{place.id}",
                                     {"enrolment_id": place.id, "days": 1, "sequence_seen": session.sequence},
                                     due_at=morning.replace(hour=9, minute=30), enrolment_id=place.id)
    db_session.commit()
    ids = {person_id: row.id for person_id, row in reminders.items() if row is not None}
    assert len(ids) == 4

    # A scheduler claims the batch at 10:00 and dies; meanwhile the place and one session are cancelled.
    claimed = claim_due(morning.replace(hour=10), "crashed-worker", 200)
    assert set(ids.values()) <= {letter.id for letter in claimed}
    with time_machine.travel(morning.replace(hour=10, minute=5), tick=False):
        cancel(cancelling, places[cancelling.id], "都合により")
        cancel_session(people["hr"], doomed, "講師急病")
        db_session.commit()
    assert statuses(list(ids.values())) == dict.fromkeys(ids.values(), DeliveryStatus.SENDING)

    # At 11:30 the claims are stale and taken back; the 11:00 session has started by then.
    half_past_eleven = morning.replace(hour=11, minute=30)
    with time_machine.travel(half_past_eleven, tick=False):
        report = deliver_due(half_past_eleven, smtp(mail_sink.port), worker="w")
    assert report.reclaimed >= 4 and report.skipped == 3
    rows = {pid: db_session.get(Notification, nid) for pid, nid in ids.items()}
    for row in rows.values():
        db_session.refresh(row)
    assert rows[kept_person.id].status == DeliveryStatus.SENT
    assert {pid: (r.status, r.last_error) for pid, r in rows.items() if pid != kept_person.id} == {
        cancelling.id: (DeliveryStatus.SKIPPED, "enrolment no longer confirmed"),
        in_cancelled.id: (DeliveryStatus.SKIPPED, "enrolment no longer confirmed"),
        in_started.id: (DeliveryStatus.SKIPPED, "session cancelled or already started"),
    }
    deliver_due(half_past_eleven + timedelta(hours=1), smtp(mail_sink.port), worker="w")
    reminder_mail = Counter(str(m["Message-ID"]) for m in mail_sink.by_kind("session_reminder"))
    assert reminder_mail == Counter({message_id(ctx, ids[kept_person.id]): 1})
    # The people concerned are told what happened, urgently, instead of being reminded.
    assert len(mail_sink.by_kind("session_cancelled")) == 1 and len(mail_sink.by_kind("enrolment_cancelled")) == 1


def test_claims_live_as_long_as_their_senders_heartbeat(ctx: Flask, people, mail_sink: MailSink) -> None:  # type: ignore[no-untyped-def]
    """A sender that keeps beating keeps its claims however long it sends; once it stops, its
    claims go back one lease TTL after its last heartbeat, and another sender sends them."""
    _session, _enrolments, ids = enrol_all(people["staff"])
    at = office_time()
    ttl = lease_ttl()
    assert {letter.id for letter in claim_due(at, "busy-sender", 200)} == set(ids)
    half_an_hour = at + timedelta(minutes=30)
    renew_heartbeat("busy-sender", half_an_hour + ttl)  # still at work half an hour later
    for moment in (half_an_hour, half_an_hour + ttl - timedelta(seconds=1)):
        report = deliver_due(moment, smtp(mail_sink.port), worker="other")
        assert (report.reclaimed, report.claimed) == (0, 0), (moment, report)
    assert set(statuses(ids).values()) == {DeliveryStatus.SENDING} and arrivals(mail_sink) == Counter()

    report = deliver_due(half_an_hour + ttl + timedelta(seconds=1), smtp(mail_sink.port), worker="other")
    assert (report.reclaimed, report.claimed, report.sent) == (len(ids), len(ids), len(ids)), report
    assert arrivals(mail_sink) == Counter({message_id(ctx, i): 1 for i in ids})
    assert set(statuses(ids).values()) == {DeliveryStatus.SENT}
    assert db_session.scalars(select(SenderHeartbeat.worker)).all() == []  # the dead one forgotten, "other" signed off


def test_a_stopped_senders_claims_go_back_at_once(ctx: Flask, people) -> None:  # type: ignore[no-untyped-def]
    """What an extra sender process found dead still held: sent rows are finished, the rest wait
    for the next claim at once, not for the heartbeat to expire."""
    _session, _enrolments, ids = enrol_all(people["staff"][:2])
    at = office_time()
    claim_due(at, "main/1", 200)
    sent_before_death, never_sent = ids
    db_session.execute(update(Notification).where(Notification.id == sent_before_death).values(sent_at=at))
    db_session.commit()
    assert release_claims("main/1") == 1
    assert statuses(ids) == {sent_before_death: DeliveryStatus.SENT, never_sent: DeliveryStatus.PENDING}
    assert db_session.scalar(select(SenderHeartbeat.worker).where(SenderHeartbeat.worker == "main/1")) is None
    assert [letter.id for letter in claim_due(at, "next", 200)] == [never_sent]


def test_a_sender_whose_heartbeat_lapsed_leaves_taken_back_messages_to_their_new_owner(
        ctx: Flask, people, mail_sink: MailSink) -> None:  # type: ignore[no-untyped-def]
    """A sender stalls past its TTL in the middle of its second message (a hung mail server), and
    another sweep takes its claims back meanwhile. Before each further message the stalled sender
    finds the claim is no longer its own and leaves it to the new owner: nothing is sent twice."""
    _session, _enrolments, ids = enrol_all(people["staff"][:3])
    first, second, third = sorted(ids)
    at = office_time()
    rescued: dict[str, object] = {}

    class StallingTransport(SmtpTransport):
        def send(self, mail):  # type: ignore[no-untyped-def]
            super().send(mail)
            if mail.message_id == message_id(ctx, second):
                later = at + lease_ttl() + timedelta(seconds=1)
                rescued["reclaimed"] = recover_stale(later)  # the first was marked sent: finished, not taken
                rescued["claimed"] = sorted(letter.id for letter in claim_due(later, "rescuer", 200))

    report = deliver_due(at, StallingTransport("127.0.0.1", mail_sink.port, timeout=5), worker="stalled")
    assert rescued == {"reclaimed": 2, "claimed": [second, third]}
    assert (report.sent, report.claims_lost) == (2, 1), report  # the third was left to the rescuer
    assert arrivals(mail_sink) == Counter({message_id(ctx, first): 1, message_id(ctx, second): 1})
    # The second went out while it was being taken back: its mark says so, and nobody sends it again.
    assert statuses(ids) == {first: DeliveryStatus.SENT, second: DeliveryStatus.SENT, third: DeliveryStatus.SENDING}
    assert release_claims("rescuer") == 1  # (or its own sweep sends it: it is the rescuer's now)
    assert deliver_due(at + timedelta(minutes=5), smtp(mail_sink.port), worker="w").sent == 1
    assert arrivals(mail_sink) == Counter({message_id(ctx, i): 1 for i in ids})
