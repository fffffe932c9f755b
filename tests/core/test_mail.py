"""Composed messages read back correctly in a standard mail parser: Japanese headers split into
valid encoded words, names with commas quoted, bodies and attachments intact."""
from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from app.core.mail import Attachment, compose, header_value
from app.core.text_safety import UnsafeText


def parsed(**overrides):  # type: ignore[no-untyped-def]
    options = {"sender": ("まなび 研修担当", "manabi@pref.example.jp"),
               "recipient": ("山田 太郎", "yamada@pref.example.jp"),
               "subject": "件名", "body": "本文", "message_id": "<notification-7@pref.example.jp>",
               "date": datetime(2027, 1, 12, 1, 0, tzinfo=UTC)}
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
    assert message["Date"].datetime == datetime(2027, 1, 12, 1, 0, tzinfo=UTC)
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


ATTACK = "Sato\r\nBcc: evil@example.com"


@pytest.mark.parametrize("where", ["recipient name", "sender name", "subject", "extra header", "recipient address",
                                   "message id"])
def test_the_staff_csv_bcc_attack_is_refused_wherever_it_is_put(where: str) -> None:
    """Finding 6 of issue 14: the name was written out as a real Bcc header. Now no header value
    may hold a line break: the message is refused (the sweep records the failure) and nothing is written."""
    overrides = {
        "recipient name": {"recipient": (ATTACK, "sato@pref.example.jp")},
        "sender name": {"sender": (ATTACK, "manabi@pref.example.jp")},
        "subject": {"subject": "【まなび】" + ATTACK},
        "extra header": {"extra_headers": (("X-Manabi-Kind", ATTACK),)},
        "recipient address": {"recipient": ("佐藤", "sato@pref.example.jp\r\nBcc: evil@example.com")},
        "message id": {"message_id": "<n-1@pref.example.jp>\r\nBcc: evil@example.com"},
    }[where]
    with pytest.raises(UnsafeText) as refused:
        parsed(**overrides)
    assert refused.value.code == "U+000D" and "\r" not in str(refused.value)


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "a\tb", "a\x85b", "a\u2028b", "a\u202eb", "a\u2066b",
                                   "a\u200fb", "a\x1bb", "a\x7fb"])
def test_header_value_refuses_every_control_and_bidi_character(value: str) -> None:
    with pytest.raises(UnsafeText):
        header_value(value)
    with pytest.raises(UnsafeText):
        parsed(recipient=(value, "yamada@pref.example.jp"))


@pytest.mark.parametrize("bad", [
    {"extra_headers": (("Bcc", "evil@example.com"),)},  # an extra header cannot add a recipient
    {"extra_headers": (("X-Kind: x\r\nBcc", "x"),)},
    {"recipient": ("佐藤", "sato@pref.example.jp>, <evil@example.com")},
    {"recipient": ("佐藤", "evil@example.com, sato@pref.example.jp")},
    {"message_id": "notification-7@pref.example.jp"},
    {"attachments": [Attachment('x".ics', b"", "text/calendar")]},
    {"attachments": [Attachment("x.ics", b"", "text/calendar; x=1")]},
    {"attachments": [Attachment("x.ics", b"", "text/calendar", (("method", 'PUBLISH"; x="1'),))]},
])
def test_structured_values_are_checked_not_trusted(bad: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        parsed(**bad)


def test_a_name_that_looks_like_an_encoded_word_or_needs_quoting_reads_back_as_written() -> None:
    for name in ["=?utf-8?b?5bGx?=", 'Alex "the" O\'Brien, Jr. (HR)', "back\\slash", " spaced ", "=?"]:
        _, message = parsed(recipient=(name, "alex@pref.example.jp"), subject=name)
        assert message["To"].addresses[0].display_name == name
        assert str(message["Subject"]) == name
        assert message["To"].defects == () and message["Subject"].defects == ()


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


def test_runs_of_spaces_too_long_for_one_line_still_fold_and_read_back() -> None:
    for subject in ("a" + " " * 100 + "b", "word " * 30 + "   ", "ab" + " " * 77 + "c"):
        mail, message = parsed(subject=subject, recipient=(subject.strip()[:50], "yamada@pref.example.jp"))
        assert str(message["Subject"]) == subject
        assert all(len(line) <= 78 for line in mail.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))
        assert message.defects == [] and message["Subject"].defects == ()


def test_the_generator_writes_only_folded_values_with_line_breaks() -> None:
    """Header values are folded when composed (email.header) and written as they are; a value with
    any other line break is refused where compat32 would write it (some of them as two lines)."""
    from app.core.mail import _POLICY

    folded = "=?utf-8?b?5bGx55Sw?=\r\n =?utf-8?b?5aSq6YOO?="
    assert _POLICY.fold_binary("Subject", folded) == f"Subject: {folded}\r\n".encode()
    assert _POLICY.fold_binary("Content-Type", 'text/plain; charset="utf-8"') == (
        b'Content-Type: text/plain; charset="utf-8"\r\n')
    for value in ("a\r\nBcc: evil@example.com", "a\r\n\r\nb", "a\nb", "a\rb", "a\r\n \r\n b", "a\r\n"):
        with pytest.raises(ValueError):
            _POLICY.fold_binary("Subject", value)
