"""Each kind is produced by its cause, arrives once, in the recipient's language."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.core.business_days import is_business_day
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.core.mail import SmtpTransport
from app.enrollment.services import approve, cancel, decline, enrol
from app.org.models import RoleName
from app.reminders.delivery import deliver_due
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.scans import queue_manager_digests, scan_assignments
from app.scheduling.services import SessionDetails, cancel_session, update_session
from tests import factories


def office_time(days_ahead: int = 1) -> datetime:
    """10:00 Japan time on a business day at least `days_ahead` days from now."""
    day = now().astimezone(TOKYO).date() + timedelta(days=days_ahead)
    while not is_business_day(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=TOKYO)


def deliver(sink, at=None):  # type: ignore[no-untyped-def]
    return deliver_due(at or office_time(), SmtpTransport("127.0.0.1", sink.port), worker="test")


@pytest.fixture
def team(ctx):
    division = factories.unit("データ活用推進課")
    return {
        "manager": factories.employee(division, "KACHO", heads=division),
        "ja": factories.employee(division, "SHUNIN", name="日本 花子"),
        "en": factories.employee(division, "SHUNIN", name="Alex Tanaka"),
        "other": factories.employee(division, "SHUNIN"),
        "hr": factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,)),
    }


def set_english(person) -> None:  # type: ignore[no-untyped-def]
    person.locale = "en"
    db_session.commit()


def test_confirmation_arrives_once_with_ics_in_each_language(team, mail_sink):
    set_english(team["en"])
    session = factories.training_session(factories.course(title_ja="主任級デジタル研修", title_en="Digital training"))
    enrol(team["ja"], team["ja"], session)
    enrol(team["en"], team["en"], session)
    db_session.commit()
    deliver(mail_sink)
    deliver(mail_sink)  # a second run sends nothing again
    confirmed = mail_sink.by_kind("enrolment_confirmed")
    assert len(confirmed) == 2
    by_to = {m["To"].addresses[0].display_name: m for m in confirmed}
    assert by_to["日本 花子"]["Subject"] == "【まなび】受講が確定しました：主任級デジタル研修"
    assert by_to["Alex Tanaka"]["Subject"] == "[Manabi] Enrolment confirmed: Digital training"
    attachment = next(part for part in by_to["日本 花子"].iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert b"BEGIN:VEVENT" in attachment.get_content().encode() if isinstance(attachment.get_content(), str) \
        else b"BEGIN:VEVENT" in attachment.get_content()
    assert by_to["日本 花子"]["Message-ID"].startswith("<notification-")


def test_waitlist_promotion_approval_and_decline_notices(team, mail_sink):
    session = factories.training_session(factories.course(), capacity=1, policy="manager")
    first = enrol(team["ja"], team["ja"], session).enrolment
    second = enrol(team["other"], team["other"], session).enrolment
    db_session.commit()
    deliver(mail_sink)
    requests = mail_sink.by_kind("approval_requested")
    assert len(requests) == 2 and {m["To"].addresses[0].username for m in requests} == {
        team["manager"].email.split("@")[0]}
    assert "承認をお願いします" in requests[0]["Subject"]
    mail_sink.clear()
    approve(team["manager"], second)  # approved while still on the waitlist
    decline(team["manager"], first, "繁忙期のため")  # frees the seat: the second is promoted
    db_session.commit()
    deliver(mail_sink)
    kinds = sorted(m["X-Manabi-Kind"] for m in mail_sink.messages)
    assert kinds == ["enrolment_approved", "enrolment_declined", "enrolment_promoted"]
    declined = mail_sink.by_kind("enrolment_declined")[0]
    assert "繁忙期のため" in declined.get_body().get_content()


def test_session_moved_replaces_reminders_and_sends_updated_ics(team, mail_sink):
    course = factories.course()
    session = factories.training_session(course, starts_in=timedelta(days=20))
    enrolment = enrol(team["ja"], team["ja"], session).enrolment
    db_session.commit()
    old = db_session.scalars(select(Notification).where(Notification.kind == "session_reminder",
                                                        Notification.enrolment_id == enrolment.id)).all()
    assert len(old) == 2
    old_due = sorted(n.due_at for n in old)
    details = SessionDetails(**{k: getattr(session, k) for k in (
        "label", "location", "online_url", "capacity", "enrolment_opens_at", "enrolment_closes_at",
        "cancellation_deadline_at", "approval_policy", "notes")})
    moved = [(m.starts_at + timedelta(days=7), m.ends_at + timedelta(days=7)) for m in session.meetings]
    update_session(team["hr"], session, details, moved, [])
    db_session.commit()
    reminders = db_session.scalars(select(Notification).where(Notification.kind == "session_reminder",
                                                              Notification.enrolment_id == enrolment.id)).all()
    live = sorted(n.due_at for n in reminders if n.status == DeliveryStatus.PENDING)
    assert {n.status for n in reminders if n.due_at in old_due} == {DeliveryStatus.VOID}
    assert len(live) == 2 and all(new > old for new, old in zip(live, old_due, strict=True))
    deliver(mail_sink)
    moved_mail = mail_sink.by_kind("session_moved")
    assert len(moved_mail) == 1
    assert any(p.get_content_type() == "text/calendar" for p in moved_mail[0].iter_attachments())


def test_reminders_of_a_cancelled_session_or_place_are_never_sent(team, mail_sink):
    course = factories.course()
    kept = factories.training_session(course, starts_in=timedelta(days=20))
    dropped = factories.training_session(factories.course(), starts_in=timedelta(days=20))
    own = enrol(team["ja"], team["ja"], kept).enrolment
    enrol(team["other"], team["other"], dropped)
    db_session.commit()
    cancel(team["ja"], own, "都合")
    cancel_session(team["hr"], dropped, "講師急病")
    db_session.commit()
    pending = db_session.scalars(select(Notification).where(Notification.kind == "session_reminder",
                                                            Notification.status == DeliveryStatus.PENDING)).all()
    assert pending == []
    deliver(mail_sink)
    # Even when their original due time comes, nothing is sent.
    deliver(mail_sink, kept.starts_at - timedelta(hours=2))
    assert mail_sink.by_kind("session_reminder") == []
    assert len(mail_sink.by_kind("session_cancelled")) == 1
    assert len(mail_sink.by_kind("enrolment_cancelled")) == 1


def test_session_reminders_land_on_business_days_at_nine(team):
    # Find a Tuesday after a Monday holiday in the coming year, and schedule the session then.
    day = now().astimezone(TOKYO).date() + timedelta(days=10)
    while not (day.weekday() == 1 and not is_business_day(day - timedelta(days=1))):
        day += timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 13, 30, tzinfo=TOKYO)
    session = factories.training_session(factories.course(), starts_in=start - now(), closes_before=timedelta(days=5),
                                         cancel_before=timedelta(days=5))
    enrolment = enrol(team["ja"], team["ja"], session).enrolment
    dues = sorted(n.due_at.astimezone(TOKYO) for n in db_session.scalars(select(Notification).where(
        Notification.kind == "session_reminder", Notification.enrolment_id == enrolment.id)))
    one_day_before = dues[-1]
    assert one_day_before.weekday() == 4 and (one_day_before.hour, one_day_before.minute) == (9, 0)  # the Friday
    assert (day - one_day_before.date()).days == 4


def test_assignment_notices_and_weekly_overdue_with_the_managers_list(team, mail_sink):
    course = factories.course(grades=("SHUNIN",))
    due = (now() + timedelta(days=5)).astimezone(TOKYO).date()
    factories.assignment_rule(course, "SHUNIN", due_on=due)
    count = scan_assignments(office_time(0) if office_time(0) > now() else now())
    assert count == 6  # three chiefs: not enrolled + due soon each
    assert scan_assignments(now()) == 0  # a second sweep queues nothing again
    overdue_at = datetime.combine(due + timedelta(days=3), datetime.min.time(), tzinfo=TOKYO).replace(hour=9)
    with time_machine.travel(overdue_at, tick=False):
        assert scan_assignments(overdue_at) == 4  # three overdue + one list to the manager
        assert scan_assignments(overdue_at) == 0
    next_week = overdue_at + timedelta(days=7)
    with time_machine.travel(next_week, tick=False):
        assert scan_assignments(next_week) == 4  # weekly again
    db_session.commit()
    deliver(mail_sink, next_week + timedelta(hours=1) if is_business_day(next_week.date()) else office_time(12))
    assert len(mail_sink.by_kind("assignment_overdue")) == 6
    assert mail_sink.by_kind("assignment_overdue_copy") == []
    lists = mail_sink.by_kind("overdue_team_digest")
    assert len(lists) == 2 and all(m["To"].addresses[0].display_name == team["manager"].name for m in lists)
    body = lists[0].get_content()
    assert "3名・3件" in lists[0]["Subject"]
    assert all(f"{team[who].name}（1件）" in body for who in ("ja", "en", "other"))


def test_enrolling_stops_the_not_enrolled_notice(team, mail_sink):
    course = factories.course(grades=("SHUNIN",))
    factories.assignment_rule(course, "SHUNIN", due_on=(now() + timedelta(days=20)).astimezone(TOKYO).date())
    scan_assignments(now())
    session = factories.training_session(course, starts_in=timedelta(days=10))
    enrol(team["ja"], team["ja"], session)
    db_session.commit()
    deliver(mail_sink)
    not_enrolled = {m["To"].addresses[0].display_name for m in mail_sink.by_kind("assignment_not_enrolled")}
    assert team["ja"].name not in not_enrolled and team["other"].name in not_enrolled


def test_manager_digest_weekly(team, mail_sink):
    session = factories.training_session(factories.course(), policy="manager", starts_in=timedelta(days=10))
    enrol(team["ja"], team["ja"], session)
    assert queue_manager_digests(now()) >= 1
    assert queue_manager_digests(now()) == 0
    db_session.commit()
    deliver(mail_sink)
    digest = mail_sink.by_kind("manager_digest")
    assert len(digest) == 1 and "承認待ち 1件" in digest[0]["Subject"]


def test_optional_kinds_can_be_turned_off_but_mandatory_cannot(team, mail_sink):
    from app.reminders.models import OptOut

    db_session.add(OptOut(employee_id=team["ja"].id, kind="session_reminder"))
    db_session.add(OptOut(employee_id=team["ja"].id, kind="enrolment_confirmed"))  # mandatory: ignored
    session = factories.training_session(factories.course(), starts_in=timedelta(days=20))
    place = enrol(team["ja"], team["ja"], session).enrolment
    db_session.commit()
    reminders = db_session.scalars(select(Notification).where(
        Notification.enrolment_id == place.id, Notification.kind == "session_reminder")).all()
    assert reminders
    # Deliver in office hours once every reminder is due (whatever the time of day the test runs).
    day = max(r.due_at for r in reminders).astimezone(TOKYO).date() + timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    deliver(mail_sink, datetime(day.year, day.month, day.day, 10, 0, tzinfo=TOKYO))
    assert len(mail_sink.by_kind("enrolment_confirmed")) == 1
    assert mail_sink.by_kind("session_reminder") == []
    for reminder in reminders:
        db_session.refresh(reminder)
    assert {(r.status, r.last_error) for r in reminders} == {(DeliveryStatus.SKIPPED, "recipient opted out")}


def test_notifications_show_in_the_app_with_an_unread_count(app, client, mail_sink):
    with app.app_context():
        person = factories.employee()
        enrolment = factories.enrolment(person, factories.training_session(factories.course(title_ja="通知の研修")))
        deliver_due(office_time(), SmtpTransport("127.0.0.1", mail_sink.port), worker="t")
        db_session.commit()
    factories.login_as(client, person)
    home = client.get("/").get_data(as_text=True)
    assert 'aria-label="未読 1 件"' in home
    inbox = client.get("/notifications").get_data(as_text=True)
    assert "受講が確定しました：通知の研修" in inbox
    del enrolment


def test_opening_a_notification_marks_it_read_only_through_the_inbox_post(app, client):
    """A GET of the message (a prefetch, a mail scanner, a reload) marks nothing read (issue 14);
    the inbox opens an unread message with a POST that marks it read, then shows it."""
    from app.reminders.services import queue

    with app.app_context():
        person = factories.employee()
        first = queue(person.id, "followup_todo", "read-test:1", {"course": "既読の研修", "todo": "アンケート"})
        second = queue(person.id, "followup_todo", "read-test:2", {"course": "未読の研修", "todo": "アンケート"})
        first.status = second.status = DeliveryStatus.SENT  # the inbox lists what went out
        db_session.commit()
        first_id, second_id = first.id, second.id
    factories.login_as(client, person)
    assert client.get(f"/notifications/{second_id}").status_code == 200
    inbox = client.get("/notifications").get_data(as_text=True)
    assert f'<form method="post" action="/notifications/{first_id}"' in inbox
    opened = factories.post(client, f"/notifications/{first_id}")
    assert opened.status_code == 302 and opened.headers["Location"] == f"/notifications/{first_id}"
    with app.app_context():
        assert db_session.get(Notification, first_id).read_at is not None
        assert db_session.get(Notification, second_id).read_at is None
    inbox = client.get("/notifications").get_data(as_text=True)
    assert f'<a href="/notifications/{first_id}">' in inbox


def test_hr_edits_wording_with_preview_and_placeholder_check(app, client, mail_sink):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        person = factories.employee()
    factories.login_as(client, hr)
    url = "/admin/outbox/templates/enrolment_confirmed/ja"
    token = factories.csrf_token(client, url)
    bad = client.post(url, data={"csrf_token": token, "subject": "確定 {course}", "body": "{nmae} 様",
                                 "action": "save"})
    assert bad.status_code == 400 and "{nmae}" in bad.get_data(as_text=True)
    preview = client.post(url, data={"csrf_token": token, "subject": "確定：{course}",
                                     "body": "{name} 様 {session_start}", "action": "preview"}).get_data(as_text=True)
    assert "確定：主任級デジタル研修" in preview and "山田 太郎 様" in preview
    saved = client.post(url, data={"csrf_token": token, "subject": "【研修】確定：{course}",
                                   "body": "{name} 様\n確定です。", "action": "save"})
    assert saved.status_code == 302
    with app.app_context():
        factories.enrolment(person, factories.training_session(factories.course(title_ja="文面の研修")))
        deliver_due(office_time(), SmtpTransport("127.0.0.1", mail_sink.port), worker="t")
        db_session.commit()
    assert mail_sink.by_kind("enrolment_confirmed")[0]["Subject"] == "【研修】確定：文面の研修"
