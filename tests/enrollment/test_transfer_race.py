"""A head approves a request at the very moment HR transfers its person (issue 17), through the
real web stack on SQLite and PostgreSQL (MANABI_TEST_BACKEND): exactly one outcome applies. Either
the approval wins (the request is approved by the head who had it, and the transfer hands
nothing on), or the transfer wins (the request waits for the new head, and the old head is told
it moved). Never both, never a 5xx or a 403. HR confirms the transfer's preview (issue 18): when
the approval was committed before the confirm was read, the preview no longer holds and the
transfer is not applied (409, HR is told and sees the new preview)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.clock import today
from app.core.db import db_session
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.org.models import Employee, RoleName
from tests import factories
from tests.confirming import previewed
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, serve_in_thread
from tests.racing import Post, assert_all_redirected, post_at_once, told

ROUNDS = 6
STALE = "プレビューの後にデータが変わったため、何も変更していません。"


@dataclass
class Site:
    app: Flask
    port: int
    hr: str
    east_head: str
    west_head: str
    west_id: int
    requests: list[tuple[int, int]]  # (employee id, enrolment id), one per round
    errors: list[BaseException] = field(default_factory=list)

    def client(self, login: str) -> HttpClient:
        return HttpClient("127.0.0.1", self.port).sign_in(login)


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("transfer-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        department = factories.unit("異動競合部")
        east, west = factories.unit("競合東課", parent=department), factories.unit("競合西課", parent=department)
        hr = factories.employee(factories.unit("競合人事課"), "SHUSA", roles=(RoleName.HR,))
        east_head = factories.employee(east, "KACHO", heads=east)
        west_head = factories.employee(west, "KACHO", heads=west)
        session = factories.training_session(factories.course(title_ja="競合の研修"), policy="manager", capacity=50)
        requests = []
        for _ in range(ROUNDS):
            person = factories.employee(east)
            requests.append((person.id, factories.enrolment(person, session).id))
        db_session.commit()
        logins = (hr.employee_number, east_head.employee_number, west_head.employee_number, west.id)
    with serve_in_thread(application, "transfer-race-server") as (port, errors):
        yield Site(application, port, *logins, requests, errors)


def _rerouted(enrolment_id: int) -> int:
    return db_session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "enrollment.approval_rerouted", AuditEvent.target_id == str(enrolment_id))) or 0


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_an_approval_and_a_transfer_at_once_apply_one_outcome(site: Site, round_: int) -> None:
    employee_id, enrolment_id = site.requests[round_]
    head, hr = site.client(site.east_head), site.client(site.hr)
    approve = {"csrf_token": head.csrf_token("/approvals"), "action": "approve", "enrolment_id": str(enrolment_id)}
    # HR has the transfer's preview open (the request would go to the west head) and confirms it
    transfer = previewed(hr, f"/org/staff/{employee_id}/transfer",
                         {"csrf_token": hr.csrf_token(f"/org/staff/{employee_id}"), "unit": str(site.west_id),
                          "as_of": today().isoformat()})
    results = post_at_once([Post(head, "/approvals", approve), Post(hr, *transfer)])
    assert_all_redirected(results[:1], site.errors)
    head_told = " ".join(told(head, results[0]))
    transfer_answer = results[1]
    assert not isinstance(transfer_answer, BaseException), transfer_answer

    with site.app.app_context():
        enrolment = db_session.get_one(Enrolment, enrolment_id)
        person = db_session.get_one(Employee, employee_id)
        west_head = db_session.scalar(select(Employee).where(Employee.employee_number == site.west_head))
        if transfer_answer.status == 409:  # the approval came first: what HR saw no longer holds
            assert STALE in transfer_answer.text and person.unit_id != site.west_id  # nothing applied
            assert enrolment.state == EnrolmentState.CONFIRMED and _rerouted(enrolment_id) == 0
            db_session.remove()
            return
        assert transfer_answer.status in (302, 303), (transfer_answer.status, transfer_answer.text[:300])
        assert person.unit_id == site.west_id  # a confirmed transfer happens
        if enrolment.approval_stage == ApprovalStage.APPROVED:  # the approval won
            assert enrolment.state == EnrolmentState.CONFIRMED
            assert _rerouted(enrolment_id) == 0
        else:  # the transfer won: the request waits for the new head; the old head was told
            assert enrolment.state == EnrolmentState.PENDING
            assert enrolment.approval_stage == ApprovalStage.MANAGER
            assert west_head is not None and enrolment.approver_id == west_head.id
            assert _rerouted(enrolment_id) == 1
            assert head_told, "the old head must be told why nothing happened"
        db_session.remove()

