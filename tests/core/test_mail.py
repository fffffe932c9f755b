"""Composed messages read back correctly in a standard mail parser: Japanese headers split into
valid encoded words, names with commas quoted, bodies and attachments intact."""
from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy

from app.mail import Attachment, compose


def parsed(**overrides):  # type: ignore[no-untyped-def]
    options = dict(sender=("まなび 研修担当", "manabi@pref.example.jp"), recipient=("山田 太郎", "yamada@pref.example.jp"),
                   subject="件名", body="本文", message_id="<notification-7@pref.example.jp>",
                   date=datetime(2027, 1, 12, 1, 0, tzinfo=timezone.utc))
    options.update(overrides)
    mail = compose(**options)  # type: ignore[arg-type]
    return mail, message_from_bytes(mail.data, policy=policy.default)


def test_long_japanese_subject_and_names_read_back_exactly() -> None:
    subject = "【まなび】受講が確定しました：" + "ＤＸ推進のためのデータ利活用と業務改革（課長級）😀" * 3
    mail, message = parsed(subject=subject)
    assert str(message["Subject"]) == subject
    assert message["From"].addresses[0].display_name == "まなび 研修担当"
    assert message["To"].addresses[0].addr_spec == "yamada@pref.example.jp"
    assert message["Message-ID"] == "<notification-7@pref.example.jp>"
    assert message["Date"].datetime == datetime(2027, 1, 12, 1, 0, tzinfo=timezone.utc)
    assert (mail.sender, mail.recipient) == ("manabi@pref.example.jp", "yamada@pref.example.jp")
    for line in mail.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        assert len(line) <= 78, line  # RFC 5322 line length, RFC 2047 word length
    assert message.defects == [] and all(not part.defects for part in message.walk())


def test_english_names_with_commas_are_quoted_and_long_subjects_folded() -> None:
    subject = "[Manabi] Enrolment confirmed: " + "Data-driven policy making for section chiefs " * 3
    mail, message = parsed(recipient=("Tanaka, Alex", "alex@pref.example.jp"), subject=subject.strip())
    assert message["To"].addresses[0].display_name == "Tanaka, Alex"
    assert str(message["Subject"]) == subject.strip()
    assert max(len(line) for line in mail.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")) <= 78


def test_a_header_value_cannot_smuggle_a_line_break() -> None:
    _, message = parsed(subject="件名\r\nBcc: victim@example.com")
    assert message["Bcc"] is None and "Bcc" in str(message["Subject"])


def test_body_and_calendar_attachment_round_trip() -> None:
    body = "山田 太郎 様\n\n次の研修の受講が確定しました。\n" * 40
    ics = "BEGIN:VCALENDAR\r\nSUMMARY:主任級デジタル研修\r\nEND:VCALENDAR\r\n".encode()
    _, message = parsed(body=body, attachments=[Attachment("manabi-1.ics", ics, "text/calendar",
                                                            (("method", "PUBLISH"),))])
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(("plain",)).get_content() == body
    [attachment] = list(message.iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename(), attachment.get_param("method")) == (
        "text/calendar", "manabi-1.ics", "PUBLISH")
    assert attachment.get_content().encode() == ics
