"""What an operator's log holds after a sign-in, a password change and a delivery: the ids to follow
a message by, and no password, address, name or subject (issue 20). The whole suite's log is
searched the same way at the end of every session (tests/log_capture.py); this test keeps the
rule checked when only part of the suite runs."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app.core.business_days import is_business_day
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.core.log_format import JsonLineFormatter, TextLineFormatter
from app.core.mail import SmtpTransport
from app.enrollment.services import enrol
from app.reminders.delivery import deliver_due
from app.reminders.models import DeliveryStatus, Notification
from tests import factories
from tests.log_capture import EMAIL
from tests.mailsink import MailSink, _Handler

WRONG_PASSWORD = "not-the-password-77"
NEW_PASSWORD = "a-new-and-longer-passphrase"
ACCEPTED = "hanako.accepted@pref.example.lg.jp"
REFUSED = "taro.refused@pref.example.lg.jp"


class _RefusingHandler(_Handler):
    sink: RefusingSink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.sink.refused:  # as real servers answer: the reply names the address
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class RefusingSink(MailSink):
    """The test's real SMTP server, refusing the addresses in `refused`."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    def start(self) -> RefusingSink:
        self.controller = Controller(_RefusingHandler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self


@pytest.fixture
def sink():  # type: ignore[no-untyped-def]
    server = RefusingSink({REFUSED}).start()
    yield server
    server.stop()


def office_time() -> datetime:
    day = now().astimezone(TOKYO).date() + timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=TOKYO)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The records as production writes them (app/core/log_format.py)."""
    return [JsonLineFormatter().format(record) for record in caplog.records]


def test_sign_in_password_change_and_delivery_log_ids_but_no_password_address_or_subject(app, sink, caplog):
    caplog.set_level(logging.INFO, logger="app")
    with app.app_context():
        division = factories.unit("ログ確認課")
        accepted = factories.employee(division, "SHUNIN", name="受理 花子", email=ACCEPTED)
        refused = factories.employee(division, "SHUNIN", name="拒否 太郎", email=REFUSED)
        training = factories.training_session(factories.course(title_ja="ログ確認研修", title_en="Log check"))
        enrol(accepted, accepted, training)
        enrol(refused, refused, training)
        db_session.commit()
        number = accepted.employee_number
        queued = dict(db_session.execute(select(Notification.recipient_id, Notification.id).where(
            Notification.kind == "enrolment_confirmed",
            Notification.recipient_id.in_((accepted.id, refused.id)))).all())
        sent_id, refused_id = queued[accepted.id], queued[refused.id]

    client = app.test_client()
    assert factories.login(client, number, WRONG_PASSWORD).status_code == 401  # the form again, with an error
    assert factories.login(client, number).status_code == 302
    token = factories.csrf_token(client, "/account/password")
    changed = client.post("/account/password", data={"csrf_token": token, "current_password": factories.PASSWORD,
                                                     "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert changed.status_code == 302

    with app.app_context():
        report = deliver_due(office_time(), SmtpTransport("127.0.0.1", sink.port), worker="log-test")
        assert (report.sent, report.retried) == (1, 1)
        statuses = dict(db_session.execute(select(Notification.id, Notification.status).where(
            Notification.id.in_((sent_id, refused_id)))).all())
        assert statuses == {sent_id: DeliveryStatus.SENT, refused_id: DeliveryStatus.PENDING}
    (message,) = sink.messages
    subject = str(message["Subject"])
    assert subject

    written = lines(caplog)
    outbox = [json.loads(line) for line in written if '"logger": "app.reminders.outbox"' in line]

    def events_of(notification_id: int) -> list[tuple[str, str | None, str]]:
        return [(line["event"], line["from"], line["to"]) for line in outbox
                if notification_id in (line.get("notification_id"), *line.get("notification_ids", []))]

    assert events_of(sent_id) == [("queued", None, "pending"), ("claimed", "pending", "sending"),
                                  ("sent", "sending", "sent")]
    assert events_of(refused_id) == [("queued", None, "pending"), ("claimed", "pending", "sending"),
                                     ("retry", "sending", "pending")]
    (retry,) = [line for line in outbox if line["event"] == "retry"]
    assert (retry["notification_id"], retry["attempt"], retry["error"], retry["smtp_code"]) == \
        (refused_id, 1, "SMTPRecipientsRefused", 550)
    assert any('"endpoint": "auth.change_password"' in line for line in written)  # the requests were logged

    log = "\n".join(written)
    for secret in (factories.PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, ACCEPTED, REFUSED, "花子", "太郎", subject):
        assert secret not in log, secret
    assert EMAIL.search(log) is None, EMAIL.search(log)


def test_an_address_in_a_logged_message_or_exception_is_written_as_address_in_both_formats():
    try:
        raise RuntimeError(f"550 5.1.1 <{REFUSED}>: Recipient address rejected")
    except RuntimeError:
        record = logging.getLogger("app.test").makeRecord(
            "app.test", logging.ERROR, __file__, 1, "mail to %s failed", (ACCEPTED,), sys.exc_info())
    line = json.loads(JsonLineFormatter().format(record))
    text = TextLineFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert line["message"] == "mail to [address] failed"
    assert "<[address]>: Recipient address rejected" in line["exception"]
    assert text.startswith("ERROR app.test: mail to [address] failed") and "<[address]>" in text
    assert REFUSED not in json.dumps(line) + text and ACCEPTED not in json.dumps(line) + text


def test_a_database_error_names_the_statement_but_not_its_values(ctx):
    with pytest.raises(DBAPIError) as failure:
        db_session.execute(text("SELECT no_such_column FROM employees WHERE email = :email"), {"email": ACCEPTED})
    db_session.rollback()
    assert "no_such_column" in str(failure.value) and ACCEPTED not in str(failure.value)
