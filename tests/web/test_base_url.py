"""Absolute links come from BASE_URL, never from the Host header (issue 14, finding 9); in
production a request for another host is refused.

Each request here names "evil.example" as its host, as anyone can: the calendar files and feed,
the check-in link and QR code, the certificate's verify link (page and PDF), the public report's
address and the mail that an enrolment made through such a request triggers must all still point
at BASE_URL.
"""
from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
import segno
from pypdf import PdfReader
from sqlalchemy import select

from app.completion.services import record_manual_completion
from app.core.db import db_session
from app.core.mail import SmtpTransport
from app.org.models import RoleName
from app.reminders.delivery import deliver_due
from app.web.external_urls import check_base_url, external_url
from config import ProductionConfig, trusted_hosts
from tests import factories
from tests.confirming import post_and_confirm
from tests.reminders.test_notifications import office_time

EVIL = {"Host": "evil.example"}


@pytest.fixture
def base(app) -> str:  # type: ignore[no-untyped-def]
    return app.config["BASE_URL"].rstrip("/")


@pytest.fixture
def setup(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("リンク課")
        member = factories.employee(division)
        hr = factories.employee(division, roles=(RoleName.HR,))
        course = factories.course("LINK-1")
        session = factories.training_session(course)
        enrolment = factories.enrolment(member, session)
        completion = record_manual_completion(hr, member, factories.course("LINK-2"), date(2020, 11, 5),
                                              Decimal("3"), "修了証（写し）")
        db_session.commit()
        return {"member": member, "hr": hr, "session": session.id, "meeting": session.meetings[0].id,
                "enrolment": enrolment.id, "code": completion.certificate_code}


def _signed_in(app, person, *hosts: str):  # type: ignore[no-untyped-def]
    """A client signed in as `person` whose session cookie also goes to `hosts` (the test client,
    like a browser, sends a cookie only to the host that set it; an attacker's request would carry
    whatever it likes)."""
    client = app.test_client()
    factories.login_as(client, person)
    client.csrf_token = factories.csrf_token(client, "/account/password")  # kept in the session: before the copy
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    for host in ("evil.example", *hosts):
        client.set_cookie(name, cookie.value, domain=host)
    return client


def test_the_test_setting_is_not_the_test_clients_host(app, base):
    assert "localhost" not in base and "evil" not in base


def test_calendar_files_and_the_feed_link_to_base_url(app, setup, base):
    client = _signed_in(app, setup["member"])
    ics = client.get(f"/enrolments/{setup['enrolment']}/calendar.ics", headers=EVIL)
    assert ics.status_code == 200
    text = ics.get_data(as_text=True).replace("\r\n ", "")  # unfold
    assert f"{base}/catalog/courses/LINK-1" in text and "evil.example" not in text

    factories.post(client, "/calendar/reset", form_page="/my-learning")
    page = client.get("/my-learning", headers=EVIL).get_data(as_text=True)
    feed_url = re.search(r'id="feed-url" type="text" readonly value="([^"]+)"', page).group(1)
    assert feed_url.startswith(f"{base}/calendar/") and feed_url.endswith(".ics")
    feed = app.test_client().get(feed_url[len(base):], headers=EVIL)
    assert feed.status_code == 200
    assert f"{base}/catalog/courses/LINK-1" in feed.get_data(as_text=True).replace("\r\n ", "")
    assert b"evil.example" not in feed.data


def test_the_check_in_screen_and_qr_code_link_to_base_url(app, setup, base):
    client = _signed_in(app, setup["hr"])
    expected = f"{base}/attendance/check-in/{setup['meeting']}"
    page = client.get(f"/attendance/meetings/{setup['meeting']}/check-in-screen", headers=EVIL)
    assert page.status_code == 200
    assert expected in page.get_data(as_text=True) and "evil.example" not in page.get_data(as_text=True)
    qr = client.get(f"/attendance/meetings/{setup['meeting']}/qr.svg", headers=EVIL)
    buffer = io.BytesIO()
    segno.make(expected, error="m").save(buffer, kind="svg", scale=8, border=2, title="QR")
    assert qr.data == buffer.getvalue()  # the same symbol as one made from BASE_URL's link


def test_the_certificate_and_its_pdf_link_to_base_url(app, setup, base):
    client = _signed_in(app, setup["member"])
    expected = f"{base}/verify/{setup['code']}"
    page = client.get(f"/certificates/{setup['code']}", headers=EVIL).get_data(as_text=True)
    assert expected in page and "evil.example" not in page
    pdf = client.get(f"/certificates/{setup['code']}.pdf", headers=EVIL)
    text = PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert expected in text and "evil.example" not in text


def test_the_public_report_link_is_base_url(app, setup, base):
    from app.reports.models import HalfYearReport

    client = _signed_in(app, setup["hr"])
    post_and_confirm(client, "/reports/half-year?fy=2020&half=1", {"narrative": "順調", "action": "publish"},
                     form_page="/reports/half-year?fy=2020&half=1")
    with app.app_context():
        slug = db_session.scalar(select(HalfYearReport.public_slug).where(HalfYearReport.fiscal_year == 2020))
    page = client.get("/reports/half-year?fy=2020&half=1", headers=EVIL).get_data(as_text=True)
    assert f'href="{base}/public/reports/{slug}"' in page
    public = app.test_client().get(f"/public/reports/{slug}")  # for everyone: caches may keep it
    assert public.status_code == 200 and "no-store" not in public.headers.get("Cache-Control", "")


def test_mail_caused_by_a_request_for_another_host_links_to_base_url(app, base, mail_sink):
    with app.app_context():
        person = factories.employee()
        session = factories.training_session(factories.course("LINK-3"))
    client = _signed_in(app, person)
    response = client.post(f"/sessions/{session.id}/enrol", data={"csrf_token": client.csrf_token}, headers=EVIL)
    assert response.status_code == 302
    with app.app_context():
        deliver_due(office_time(), SmtpTransport("127.0.0.1", mail_sink.port), worker="test")
    [mail] = mail_sink.by_kind("enrolment_confirmed")
    body = mail.get_body(("plain",)).get_content()
    assert f"{base}/enrolments/" in body and "evil.example" not in body
    [calendar] = [part for part in mail.iter_attachments() if part.get_content_type() == "text/calendar"]
    content = calendar.get_content()
    text = (content.decode() if isinstance(content, bytes) else content).replace("\r\n ", "")
    assert f"{base}/catalog/courses/LINK-3" in text and "evil.example" not in text


def test_external_url_follows_base_url_with_a_path_prefix(app, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "https://intra.example.jp/manabi/")
    with app.app_context():  # no request: the scheduler and CLI commands build links the same way
        assert external_url("completion.verify", code="AB") == "https://intra.example.jp/manabi/verify/AB"
        assert external_url("enrollment.my_learning", _anchor="calendar") == \
            "https://intra.example.jp/manabi/my-learning#calendar"


@pytest.mark.parametrize("value", ["", "manabi.example.jp", "ftp://manabi.example.jp", "https://",
                                   "https://manabi.example.jp/?x=1", "https://user:pw@manabi.example.jp"])
def test_a_base_url_that_cannot_prefix_links_is_refused(value):
    with pytest.raises(RuntimeError, match="BASE_URL"):
        check_base_url(value)


# --- TRUSTED_HOSTS ----------------------------------------------------------------------------


def test_production_trusts_the_host_of_base_url_and_those_listed(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.delenv("BASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="BASE_URL"):
        ProductionConfig()
    monkeypatch.setenv("BASE_URL", "https://Manabi.Pref.example.jp")
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    assert ProductionConfig().TRUSTED_HOSTS == ["manabi.pref.example.jp"]
    monkeypatch.setenv("TRUSTED_HOSTS", " manabi-health.internal , .pref.example.jp,")
    assert ProductionConfig().TRUSTED_HOSTS == ["manabi.pref.example.jp", "manabi-health.internal", ".pref.example.jp"]
    assert trusted_hosts(None, "http://127.0.0.1:5000") == ["127.0.0.1"]


def test_with_trusted_hosts_another_host_is_refused(app, setup, monkeypatch):
    client = _signed_in(app, setup["member"], "manabi.pref.example.jp")
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", ["manabi.pref.example.jp"])
    for path in ("/login", "/my-learning", f"/enrolments/{setup['enrolment']}/calendar.ics", "/no-such-page",
                 "/static/app.css"):
        refused = client.get(path, headers=EVIL)
        assert refused.status_code == 400, path
        assert b"evil.example" not in refused.data
    assert client.post("/logout", headers=EVIL).status_code == 400
    good = {"Host": "manabi.pref.example.jp"}
    assert client.get("/my-learning", headers=good).status_code == 200
    assert client.get("/login", headers={"Host": "manabi.pref.example.jp:443"}).status_code in (200, 302)
    assert app.test_client().get("/login", headers=good).status_code == 200
