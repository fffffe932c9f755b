"""A completion of a course valid for N months expires: the certificate, its PDF, the transcript
and the public verification say until when and show it expired; a notice goes out before it
lapses; taking the course again records the next cycle and keeps the old one."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from pypdf import PdfReader
from sqlalchemy import select

from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.catalog.recurrence import add_months
from app.completion.models import Completion
from app.completion.services import (
    evaluate_enrolment,
    record_manual_completion,
    record_self_paced_completion,
    valid_completion,
)
from app.core.clock import today
from app.core.db import db_session
from app.core.mail import SmtpTransport
from app.org.models import RoleName
from app.reminders.delivery import deliver_due
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.scans import scan_expiring_completions
from tests import factories
from tests.reminders.test_notifications import office_time


@pytest.fixture
def records(app):
    """A course valid for 12 months; one member's completion expired a month ago, another's
    expires in 9 days; a third course never expires."""
    with app.app_context():
        division = factories.unit("情報政策課")
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        expired_member = factories.employee(division, "SHUNIN", name="期限 切子", number="X00001")
        expiring_member = factories.employee(division, "SHUNIN", name="間近 光")
        course = factories.course("SEC-12", title_ja="情報セキュリティ基礎", title_en="Security basics")
        course.valid_for_months = 12
        forever = factories.course("ETHICS-1", title_ja="公務員倫理")
        current = today()
        expired = record_manual_completion(hr, expired_member, course, add_months(current, -13), Decimal("1"), "")
        expiring = record_manual_completion(hr, expiring_member, course, add_months(current, -12) + timedelta(days=10),
                                            Decimal("1"), "")
        lasting = record_manual_completion(hr, expired_member, forever, add_months(current, -30), Decimal("2"), "")
        db_session.commit()
        return {"hr": hr, "expired_member": expired_member, "expiring_member": expiring_member, "course": course,
                "expired": expired.certificate_code, "expiring": expiring.certificate_code,
                "lasting": lasting.certificate_code, "expiring_id": expiring.id}


def test_a_completion_is_valid_until_the_day_before_the_same_date_n_months_later(ctx):
    hr = factories.employee(roles=(RoleName.HR,))
    course = factories.course()
    course.valid_for_months = 12
    completion = record_manual_completion(hr, factories.employee(), course, date(2024, 2, 29), Decimal("1"), "")
    assert completion.valid_until == date(2025, 2, 27)
    assert record_manual_completion(hr, factories.employee(), factories.course(), date(2024, 2, 29), Decimal("1"),
                                    "").valid_until is None


def test_the_certificate_shows_until_when_it_is_valid_and_that_it_expired(app, client, records):
    factories.login_as(client, records["expired_member"])
    expired = client.get(f"/certificates/{records['expired']}").get_data(as_text=True)
    assert "有効期限" in expired and "期限切れ" in expired
    lasting = client.get(f"/certificates/{records['lasting']}").get_data(as_text=True)
    assert "有効期限" not in lasting and "期限切れ" not in lasting
    pdf = client.get(f"/certificates/{records['expired']}.pdf")
    assert pdf.status_code == 200
    text = PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    until = add_months(today(), -1) - timedelta(days=1)
    assert "有効期限" in text and f"（{until.year}年）まで" in text


def test_public_verification_says_a_certificate_has_expired(app, client, records):
    expired = client.get(f"/verify/{records['expired']}")
    assert expired.status_code == 200
    html = expired.get_data(as_text=True)
    assert "正規の修了証ですが、有効期限が切れています" in html and "改めて受講する必要があります" in html
    valid = client.get(f"/verify/{records['expiring']}").get_data(as_text=True)
    assert "有効期限：" in valid and "切れています" not in valid


def test_the_transcript_and_its_csv_show_validity(app, client, records):
    factories.login_as(client, records["expired_member"])
    page = client.get(f"/staff/{records['expired_member'].id}/transcript").get_data(as_text=True)
    assert "期限切れ" in page and "期限なし" in page
    rows = list(csv.reader(io.StringIO(client.get(
        f"/staff/{records['expired_member'].id}/transcript.csv").data.decode("utf-8-sig"))))
    by_code = {row[1]: row for row in rows[1:]}
    assert rows[0][6] == "有効期限"
    assert by_code["SEC-12"][-1] == "expired" and by_code["SEC-12"][6]
    assert by_code["ETHICS-1"][-1] == "valid" and by_code["ETHICS-1"][6] == ""
    other = app.test_client()
    factories.login_as(other, records["expiring_member"])
    assert "まもなく期限切れ" in other.get("/transcript", follow_redirects=True).get_data(as_text=True)


def test_a_notice_goes_out_once_before_a_completion_expires(app, records, mail_sink):
    with app.app_context():
        assert scan_expiring_completions(office_time(0)) == 1  # the expiring one; not the expired one
        assert scan_expiring_completions(office_time(0)) == 0
        db_session.commit()
        deliver_due(office_time(), SmtpTransport("127.0.0.1", mail_sink.port), worker="test")
    [mail] = mail_sink.by_kind("completion_expiring")
    assert mail["Subject"].startswith("【まなび】修了の有効期限が近づいています：情報セキュリティ基礎")
    until = add_months(add_months(today(), -12) + timedelta(days=10), 12) - timedelta(days=1)
    body = mail.get_content()
    assert f"{until.year}年{until.month}月{until.day}日 まで有効です" in body
    assert "/catalog/courses/SEC-12" in body


def test_a_notice_for_a_completion_renewed_meanwhile_is_not_sent(app, records, mail_sink):
    with app.app_context():
        scan_expiring_completions(office_time(0))
        person = records["expiring_member"]
        course = db_session.get(type(records["course"]), records["course"].id)
        # Renewed before the notice went: the next cycle is recorded, the old one kept.
        with pytest.raises(ValueError):  # still valid, and no later cycle is owed: nothing to renew yet
            record_manual_completion(records["hr"], person, course, today(), Decimal("1"), "")
        db_session.add(Completion(employee_id=person.id, course_id=course.id, source="manual", completed_on=today(),
                                  cycle=2, valid_until=add_months(today(), 12), hours=Decimal("1"),
                                  certificate_code="RENEW-ED000-TEST", recorded_at=office_time(0)))
        db_session.commit()
        deliver_due(office_time(), SmtpTransport("127.0.0.1", mail_sink.port), worker="test")
        notice = db_session.scalar(select(Notification).where(Notification.kind == "completion_expiring"))
        assert notice is not None and notice.status == DeliveryStatus.SKIPPED
    assert mail_sink.by_kind("completion_expiring") == []


def test_taking_a_course_again_after_expiry_records_the_next_cycle(ctx):
    hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
    person = factories.employee()
    course = factories.course(min_attendance=100)
    course.valid_for_months = 12
    first_session = factories.training_session(course, starts_in=timedelta(days=3))
    first = factories.enrolment(person, first_session)
    [meeting] = first_session.meetings
    with time_machine.travel(meeting.ends_at + timedelta(hours=1), tick=False):
        set_mark(hr, first, meeting, AttendanceStatus.PRESENT)
        earned = valid_completion(person.id, course.id)
        assert earned is not None and earned.cycle == 1
    with time_machine.travel(meeting.ends_at + timedelta(days=400), tick=False):
        assert valid_completion(person.id, course.id) is None  # expired, kept
        # A correction on the old place does not pass for a new take.
        set_mark(hr, first, meeting, AttendanceStatus.PRESENT, "再確認")
        assert evaluate_enrolment(first) is None
        assert db_session.scalars(select(Completion.cycle).where(Completion.employee_id == person.id)).all() == [1]
        # Taking it again at one's own pace (e-learning) records the next cycle.
        renewed = record_self_paced_completion(person.id, course)
        history = db_session.scalars(select(Completion).where(Completion.employee_id == person.id)
                                     .order_by(Completion.cycle)).all()
        assert [(c.cycle, c.enrolment_id, c.revoked_at) for c in history] == [(1, first.id, None), (2, None, None)]
        assert valid_completion(person.id, course.id) is renewed
        assert record_self_paced_completion(person.id, course) is renewed  # once


def test_my_learning_owes_an_assignment_again_once_its_certificate_expired(app, client, records):
    """An expired certificate does not answer the assignment: My learning says it is still to do,
    while a current one shows it completed."""
    with app.app_context():
        factories.assignment_rule(records["course"], "SHUNIN", fiscal_year=2026, due_on=today() + timedelta(days=30))
    factories.login_as(client, records["expired_member"])
    expired_page = client.get("/my-learning").get_data(as_text=True)
    assigned = expired_page.split('id="assigned-heading"')[1].split("</section>")[0]
    assert "情報セキュリティ基礎" in assigned and "修了" not in assigned
    other = app.test_client()
    factories.login_as(other, records["expiring_member"])
    current_page = other.get("/my-learning").get_data(as_text=True)
    assigned = current_page.split('id="assigned-heading"')[1].split("</section>")[0]
    assert "情報セキュリティ基礎" in assigned and "修了" in assigned
