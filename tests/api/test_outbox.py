"""The outbox's state through the API, for HR and for a system account acting as HR: what HR's
monitoring notices after a real delivery against a real SMTP server that refuses one recipient
(the failure, named by the recipient's employee number, never their address), in a fixed number
of statements whatever the number of messages."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask

from app.api.outbox import OutboxFailurePageSchema, OutboxStatusSchema
from app.core.business_days import is_business_day
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.core.mail import SmtpTransport
from app.enrollment.services import enrol
from app.org.models import Employee, RoleName
from app.reminders.delivery import deliver_due
from tests import factories
from tests.api.conftest import bearer, client_token, make_client, make_token
from tests.mailsink import MailSink, _Handler
from tests.querycount import count_statements

STATUS, FAILURES = "/api/v1/outbox", "/api/v1/outbox/failures"


class _Refusing(_Handler):
    """Accepts mail, but refuses the recipients the sink names, quoting the address as real servers do."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.sink.refused:  # type: ignore[attr-defined]
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class RefusingSink(MailSink):
    def __init__(self) -> None:
        super().__init__()
        self.refused: set[str] = set()

    def start(self) -> RefusingSink:
        self.controller = Controller(_Refusing(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self


@pytest.fixture
def smtp_server() -> Iterator[RefusingSink]:
    sink = RefusingSink().start()
    yield sink
    sink.stop()


def office_time() -> datetime:
    """10:00 Japan time on the next business day (the delivery sends non-urgent mail then)."""
    day = now().astimezone(TOKYO).date() + timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=TOKYO)


def deliver(app: Flask, sink: RefusingSink, staff: list[Employee], refused: list[Employee]) -> datetime:
    """Enrol `staff` (each gets a confirmation) and run the delivery job once: the server refuses
    the addresses of `refused`, and there is a single attempt, so they fail for good."""
    at = office_time()
    with app.test_request_context():
        training_session = factories.training_session(factories.course(), capacity=50)
        for person in staff:
            enrol(person, person, training_session, override_rules=True)
        db_session.commit()
        sink.refused = {person.email for person in refused}
        report = deliver_due(at, SmtpTransport("127.0.0.1", sink.port, timeout=5), worker="api-outbox-test",
                             max_attempts=1)
        assert (report.sent, report.failed) == (len(staff) - len(refused), len(refused)), report
    return at


@pytest.fixture
def hr(app: Flask) -> Employee:
    with app.app_context():
        return factories.employee(roles=(RoleName.HR,))


@pytest.fixture
def frozen() -> Iterator[None]:
    """Every request of the test falls in one rate-limit minute."""
    with time_machine.travel(datetime.now(UTC), tick=False):
        yield


def test_hr_sees_a_failed_delivery_by_employee_number_never_by_address(app, client, smtp_server, hr):
    with app.app_context():
        staff = [factories.employee() for _ in range(3)]
        numbers = {person.id: person.employee_number for person in staff}
        emails = [person.email for person in staff]
    at = deliver(app, smtp_server, staff, refused=staff[:1])
    with app.app_context():
        secret = make_token(hr, ("read",))

    status = client.get(STATUS, headers=bearer(secret))
    assert status.status_code == 200, status.get_data(as_text=True)
    body = status.get_json()
    assert body["counts"]["failed"] == 1 and body["counts"]["sent"] == 2
    assert set(body["counts"]) == {"pending", "sending", "sent", "failed", "skipped", "void"}
    assert body["failed_last_24_hours"] == 1
    assert datetime.fromisoformat(body["last_sent_at"]) == at
    assert body["oldest_unsent_age_seconds"] is None  # nothing waits: sent or failed
    assert OutboxStatusSchema().validate(body) == {}  # as documented

    failures = client.get(FAILURES, headers=bearer(secret))
    assert failures.status_code == 200
    assert OutboxFailurePageSchema().validate(failures.get_json()) == {}
    [failure] = failures.get_json()["items"]
    assert failure["kind"] == "enrolment_confirmed"
    assert failure["recipient_employee_number"] == numbers[staff[0].id]
    assert (failure["attempts"], failure["error"], failure["smtp_code"]) == (1, "SMTPRecipientsRefused", 550)
    assert "[address]" in failure["error_summary"] and "Recipient address rejected" in failure["error_summary"]
    assert datetime.fromisoformat(failure["failed_at"]) == at
    for answer in (status, failures):  # the log's rule: no address leaves, not even in the server's reply
        assert not any(email in answer.get_data(as_text=True) for email in emails)
        assert "@" not in answer.get_data(as_text=True)


def test_a_message_waiting_for_its_time_shows_its_age(app, client, hr, frozen):
    with app.app_context():
        person = factories.employee()
        factories.enrolment(person, factories.training_session(factories.course()))  # its confirmation waits
        secret = make_token(hr, ("read",))
    later = datetime.now(UTC) + timedelta(minutes=10)
    with time_machine.travel(later, tick=False):
        body = client.get(STATUS, headers=bearer(secret)).get_json()
    assert body["counts"]["pending"] >= 1 and body["counts"]["failed"] == 0
    assert body["oldest_unsent_age_seconds"] >= 600
    assert body["last_sent_at"] is None and body["failed_last_24_hours"] == 0


def test_failures_are_paged_newest_first_in_a_fixed_number_of_statements(app, client, smtp_server, hr, frozen):
    with app.app_context():
        staff = [factories.employee() for _ in range(5)]
        secret = make_token(hr, ("read",))
    client.get(STATUS, headers=bearer(secret))  # the minute's first request notes the token's use
    with count_statements(app) as before:
        empty_status = client.get(STATUS, headers=bearer(secret))
    with count_statements(app) as empty_list:
        assert client.get(FAILURES, headers=bearer(secret)).get_json()["items"] == []
    assert empty_status.get_json()["counts"]["failed"] == 0

    deliver(app, smtp_server, staff, refused=staff[:4])
    with count_statements(app) as after:
        assert client.get(STATUS, headers=bearer(secret)).get_json()["counts"]["failed"] == 4
    seen: list[int] = []
    counts = []
    url: str | None = f"{FAILURES}?limit=3"
    while url:
        with count_statements(app) as counted:
            page = client.get(url, headers=bearer(secret))
        assert page.status_code == 200
        counts.append(counted.count)
        seen += [item["id"] for item in page.get_json()["items"]]
        url = page.get_json()["links"]["next"]
    assert len(seen) == 4 and seen == sorted(seen, reverse=True)
    # The token with its owner, the owner's roles, the rate window, the units they head; then the
    # outbox: its backlog, the day's failures, the counts by state, the last sending; or a page of
    # failures with their recipients, and (when there is any) the recipients' roles, loaded with
    # any Employee.
    assert before.count == after.count == 8, "\n".join(s.split("\n")[0][:70] for s in after.statements)
    assert set(counts) == {6} and empty_list.count == 5, counts


def test_a_system_account_acting_as_hr_may_read_it_and_others_may_not(app, client, hr):
    with app.app_context():
        hr_client = make_client("hr", ("read",), name="人事部 監視")
        personnel_client = make_client("personnel_system", ("read", "staff"))
        employee_secret = make_token(factories.employee(), ("read",))
        hr_without_read = make_token(hr, ("enrol",))
    as_hr = client_token(client, *hr_client)
    for path in (STATUS, FAILURES):
        assert client.get(path, headers=bearer(as_hr)).status_code == 200, path
        for secret in (client_token(client, *personnel_client), employee_secret, hr_without_read):
            refused = client.get(path, headers=bearer(secret))
            assert refused.status_code == 403 and refused.content_type == "application/problem+json"
        assert client.get(path).status_code == 401


@pytest.mark.parametrize("cursor", ["nonsense", "e30"])
def test_a_cursor_the_api_did_not_give_is_a_problem(app, client, hr, cursor):
    with app.app_context():
        secret = make_token(hr, ("read",))
    answer = client.get(f"{FAILURES}?cursor={cursor}", headers=bearer(secret))
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "cursor"
