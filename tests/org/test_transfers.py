"""Transfers hand pending work to the new head (issue 17): a person moving unit (HR on the web, or
a staff import) or a unit's head changing. The new head sees the request, may decide it and gets
one mail listing what they took over; the old head may no longer decide it, is told where it went
when they try from an old page or link, and their unsent mail about it is withdrawn. Each
hand-over is in the audit trail. On SQLite and PostgreSQL (MANABI_TEST_BACKEND)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.cohorts import services as cohort_services
from app.cohorts.models import Application
from app.cohorts.transitions import CohortError
from app.core.clock import today
from app.core.db import db_session
from app.core.mail import SmtpTransport
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.enrollment.services import EnrolmentError, approve
from app.org.models import Employee, RoleName, Unit
from app.org.services import import_staff, set_unit_head, transfer_employee
from app.reminders.delivery import deliver_due
from app.reminders.facts import Facts
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.rendering import skip_reason
from app.reminders.services import void_unsent
from tests import factories
from tests.confirming import press_confirm, text_of
from tests.racing import flashes
from tests.reminders.test_notifications import office_time


def _build_org() -> dict:  # type: ignore[type-arg]
    department = factories.unit("異動検証部")
    east = factories.unit("東課", parent=department)
    west = factories.unit("西課", parent=department)
    hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
    return {
        "department": department, "east": east, "west": west, "hr": hr,
        "east_head": factories.employee(east, "KACHO", heads=east, name="東 課長"),
        "west_head": factories.employee(west, "KACHO", heads=west, name="西 課長"),
        "staff": factories.employee(east, "SHUNIN", name="異動 する人"),
    }


@pytest.fixture
def org(ctx):  # type: ignore[no-untyped-def]
    """The organisation for service-level tests (inside one app context)."""
    return _build_org()


@pytest.fixture
def web(app):  # type: ignore[no-untyped-def]
    """The organisation for tests through the pages: ids only (each request has its own context,
    and the test reads the database in `with app.app_context()` blocks between requests)."""
    with app.app_context():
        built = _build_org()
        return {name: row.id for name, row in built.items()}


def _request(person: Employee) -> Enrolment:
    session = factories.training_session(factories.course(title_ja="承認が要る研修"), policy="manager")
    enrolment = factories.enrolment(person, session, override=True)
    assert enrolment.state == EnrolmentState.PENDING and enrolment.approval_stage == ApprovalStage.MANAGER
    return enrolment


def _notices(kind: str, recipient_id: int) -> list[Notification]:
    return list(db_session.scalars(select(Notification).where(
        Notification.kind == kind, Notification.recipient_id == recipient_id).order_by(Notification.id)))


def _deliver(sink):  # type: ignore[no-untyped-def]
    db_session.commit()
    return deliver_due(office_time(), SmtpTransport("127.0.0.1", sink.port), worker="transfers")


def _signed_in(app, person_id: int):  # type: ignore[no-untyped-def]
    client = app.test_client()
    with app.app_context():
        number = db_session.get_one(Employee, person_id).employee_number
    factories.login(client, number)
    return client


def _told(client, response) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 302, response.status_code
    return flashes(client.get(response.headers["Location"]).get_data(as_text=True))


def test_hr_transfers_a_person_and_their_pending_request_goes_to_the_new_head(app, web, mail_sink):
    with app.app_context():
        enrolment_id = _request(db_session.get_one(Employee, web["staff"])).id
        assert db_session.get_one(Enrolment, enrolment_id).approver_id == web["east_head"]
        (queued,) = _notices("approval_requested", web["east_head"])
        queued_id = queued.id
        assert queued.status == DeliveryStatus.PENDING

    hr = _signed_in(app, web["hr"])
    preview = factories.post(hr, f"/org/staff/{web['staff']}/transfer",
                             {"unit": str(web["west"]), "as_of": today().isoformat()},
                             form_page=f"/org/staff/{web['staff']}")
    assert preview.status_code == 200  # first what it hands over, and to whom; nothing moved yet
    words = text_of(preview.get_data(as_text=True))
    assert "異動させますか？" in words and "西 課長 さんに引き継がれます。" in words
    assert "後で元の所属に戻しても、申込みは戻りません。" in words
    with app.app_context():
        assert db_session.get_one(Enrolment, enrolment_id).approver_id == web["east_head"]
        assert db_session.get_one(Employee, web["staff"]).unit_id != web["west"]
    response = press_confirm(hr, preview)
    assert any(category == "success" for category, _text in _told(hr, response))

    with app.app_context():
        enrolment = db_session.get_one(Enrolment, enrolment_id)
        assert enrolment.approver_id == web["west_head"] and enrolment.state == EnrolmentState.PENDING
        assert db_session.get_one(Notification, queued_id).status == DeliveryStatus.VOID  # never goes out
        trail = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "enrollment.approval_rerouted",
                                                           AuditEvent.target_id == str(enrolment_id)))
        assert trail is not None and trail.actor_id == web["hr"]
        assert trail.before == {"approver_id": web["east_head"]}
        assert trail.after is not None and trail.after["approver_id"] == web["west_head"]
        assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "org.employee_transferred",
                                                          AuditEvent.target_id == str(web["staff"]))) is not None

    # The old head: not in their queue; from the old page (the request ticked) or the old link, told where it went.
    east = _signed_in(app, web["east_head"])
    assert "承認が要る研修" not in east.get("/approvals").get_data(as_text=True)
    response = factories.post(east, "/approvals", {"action": "approve", "enrolment_id": str(enrolment_id)},
                              form_page="/approvals")
    told = _told(east, response)
    assert any(category == "error" and "西 課長" in text for category, text in told), told
    told = _told(east, east.get(f"/enrolments/{enrolment_id}"))
    assert any("西 課長" in text for _category, text in told), told
    with app.app_context():
        assert db_session.get_one(Enrolment, enrolment_id).state == EnrolmentState.PENDING

    # The new head: in their queue, one mail listing it, and may approve it.
    west = _signed_in(app, web["west_head"])
    assert "承認が要る研修" in west.get("/approvals").get_data(as_text=True)
    with app.app_context():
        _deliver(mail_sink)
    assert [m["To"].addresses[0].display_name for m in mail_sink.by_kind("work_handed_over")] == ["西 課長"]
    body = mail_sink.by_kind("work_handed_over")[0].get_content()
    assert "異動 する人" in body and "承認が要る研修" in body
    assert mail_sink.by_kind("approval_requested") == []  # the old head's request mail was withdrawn
    response = factories.post(west, "/approvals", {"action": "approve", "enrolment_id": str(enrolment_id)},
                              form_page="/approvals")
    assert any(category == "success" for category, _text in _told(west, response))
    with app.app_context():
        assert db_session.get_one(Enrolment, enrolment_id).approval_stage == ApprovalStage.APPROVED


def test_a_new_head_takes_over_requests_and_endorsements_in_one_mail(app, web, mail_sink):
    with app.app_context():
        staff = db_session.get_one(Employee, web["staff"])
        enrolment_id = _request(staff).id
        application = cohort_services.apply(staff, factories.cohort(), "志望動機", "smart_government", ["課題"])
        db_session.commit()
        application_id = application.id
        assert application.approver_id == web["east_head"]
        new_head = factories.employee(db_session.get_one(Unit, web["east"]), "KACHO", name="新 課長")
        new_head_id, new_head_number = new_head.id, new_head.employee_number

    hr = _signed_in(app, web["hr"])
    preview = factories.post(hr, "/org/units/head", {"unit": str(web["east"]), "employee_number": new_head_number},
                             form_page="/org/units")
    assert preview.status_code == 200  # first the requests and applications that change hands
    page = preview.get_data(as_text=True)
    assert "承認が要る研修" in text_of(page.split('id="head-moving"')[1].split("</ul>")[0])
    assert "異動 する人" in text_of(page.split('id="head-endorsing"')[1].split("</ul>")[0])
    with app.app_context():
        assert db_session.get_one(Unit, web["east"]).head_id == web["east_head"]
    response = press_confirm(hr, preview)
    assert any(category == "success" for category, _text in _told(hr, response))
    with app.app_context():
        assert db_session.get_one(Unit, web["east"]).head_id == new_head_id
        assert db_session.get_one(Enrolment, enrolment_id).approver_id == new_head_id
        assert db_session.get_one(Application, application_id).approver_id == new_head_id
        for kind in ("approval_requested", "cohort_endorsement_requested"):
            assert [n.status for n in _notices(kind, web["east_head"])] == [DeliveryStatus.VOID]

    # The old head heads nothing now: the request's link tells them where it went.
    east = _signed_in(app, web["east_head"])
    response = east.get(f"/enrolments/{enrolment_id}")
    assert response.headers["Location"] == "/"
    assert any("新 課長" in text for _c, text in _told(east, response))
    with app.app_context():
        with pytest.raises(CohortError, match="新 課長"):
            cohort_services.endorse(db_session.get_one(Employee, web["east_head"]),
                                    db_session.get_one(Application, application_id), True, "")
        db_session.rollback()
        _deliver(mail_sink)
    (mail,) = mail_sink.by_kind("work_handed_over")
    assert mail["To"].addresses[0].display_name == "新 課長" and "2件" in mail["Subject"]
    body = mail.get_content()
    assert "承認が要る研修" in body and "への応募" in body
    assert mail_sink.by_kind("approval_requested") == mail_sink.by_kind("cohort_endorsement_requested") == []
    with app.app_context():
        head = db_session.get_one(Employee, new_head_id)
        cohort_services.endorse(head, db_session.get_one(Application, application_id), True, "推薦します")
        approve(head, db_session.get_one(Enrolment, enrolment_id))
        db_session.commit()


def _staff_file(moves: dict[str, Unit]) -> bytes:
    """Everyone active as they are, but the people in `moves` in their new unit."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["employee_number", "name", "email", "grade", "unit", "is_head"])
    units = {u.id: u for u in db_session.scalars(select(Unit))}
    heads = {u.head_id: u.id for u in units.values() if u.head_id}
    for person in db_session.scalars(select(Employee).where(Employee.is_active.is_(True),
                                                            Employee.is_external.is_(False))):
        unit = moves.get(person.employee_number) or units[person.unit_id]  # type: ignore[index]
        is_head = heads.get(person.id) == unit.id
        writer.writerow([person.employee_number, person.name, person.email, person.grade.code,  # type: ignore[union-attr]
                         unit.code, "1" if is_head else ""])
    return out.getvalue().encode()


def test_a_staff_import_that_moves_someone_hands_their_request_on(org):
    enrolment = _request(org["staff"])
    report = import_staff(_staff_file({org["staff"].employee_number: org["west"]}), org["hr"],
                          as_of=today(), dry_run=False)
    assert report.ok and len(report.transferred) == 1
    db_session.commit()
    db_session.expire_all()
    assert db_session.get_one(Enrolment, enrolment.id).approver_id == org["west_head"].id
    (notice,) = _notices("work_handed_over", org["west_head"].id)
    assert notice.context["enrolment_ids"] == [enrolment.id]
    with pytest.raises(EnrolmentError, match="西 課長"):
        approve(db_session.get_one(Employee, org["east_head"].id), db_session.get_one(Enrolment, enrolment.id))


def test_with_no_head_left_above_the_request_goes_to_hr(org):
    enrolment = _request(org["staff"])
    nowhere = factories.unit("所属長不在の課")
    transfer_employee(org["hr"], org["staff"], nowhere, as_of=today())
    db_session.commit()
    db_session.expire_all()
    moved = db_session.get_one(Enrolment, enrolment.id)
    assert moved.approval_stage == ApprovalStage.HR and moved.state == EnrolmentState.PENDING
    assert [n.kind for n in _notices("approval_requested", org["hr"].id)] == ["approval_requested"]
    assert _notices("work_handed_over", org["hr"].id) == []


def test_a_head_who_moves_out_stops_heading_and_their_own_request_follows(org):
    set_unit_head(None, org["department"], factories.employee(org["department"], "BUCHO", name="部 長"))
    db_session.commit()
    own = _request(org["east_head"])  # a head's own request waits for the head above them
    assert own.approver_id == org["department"].head_id
    transfer_employee(org["hr"], org["east_head"], org["west"], as_of=today() + timedelta(days=1))
    db_session.commit()
    db_session.expire_all()
    assert db_session.get_one(Unit, org["east"].id).head_id is None
    assert db_session.get_one(Enrolment, own.id).approver_id == org["west_head"].id
    staff_request = _request(org["staff"])  # the east division has no head: its department head decides
    assert staff_request.approver_id == db_session.get_one(Unit, org["department"].id).head_id


def test_a_mail_already_claimed_by_a_sender_is_not_voided_but_skipped_when_sent(org):
    enrolment = _request(org["staff"])
    (queued,) = _notices("approval_requested", org["east_head"].id)
    queued.status, queued.claimed_by = DeliveryStatus.SENDING, "another-sender"
    db_session.commit()
    transfer_employee(org["hr"], org["staff"], org["west"], as_of=today())
    assert void_unsent(org["east_head"].id, "approval_requested", enrolment_id=enrolment.id) == 0
    db_session.commit()
    db_session.expire_all()
    claimed = db_session.get_one(Notification, queued.id)
    assert claimed.status == DeliveryStatus.SENDING  # left to its sender, which checks it again:
    assert skip_reason(claimed, Facts([claimed]), office_time()) == "request handed to another head"
