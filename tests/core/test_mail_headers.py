"""Property tests (Hypothesis) for every place user text becomes a mail header: arbitrary display
names and subjects go through `compose`; each message is either refused by the one safe function
(the text holds a control character, a line break, a bidirectional control …) or its bytes parse
back with the standard library's email parser into exactly the headers intended, with the
subject and the display names as given.

Display names are read twice. RFC 2047 §6.2 says whitespace between adjacent encoded words is
ignored, and the standard library's `email.header.decode_header` reads them so: it must give the
name exactly. The newer parser (policy.default) differs, and its own generator's output reads back
the same way: it reads a space followed by more whitespace inside an encoded word as one space, and
puts whitespace between adjacent encoded words of a display name (a name over 13 Japanese
characters); there it must give the same characters apart from whitespace."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import getaddresses

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from app.core.mail import Attachment, compose
from app.core.text_safety import UnsafeText, find_unsafe

EXTRA = ("X-Manabi-Kind", "Auto-Submitted")
INTENDED = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", *EXTRA]
ICS = "BEGIN:VCALENDAR\r\nSUMMARY:研修\r\nEND:VCALENDAR\r\n".encode()

# Arbitrary text, text made of what has broken or garbled headers before, and such text with one
# refused character in it (a line break, NUL, a bidirectional control …).
TRICKY = [*" \u3000\u00a0\"\\()<>@,;:.=?_ab山田太郎😀", "=?utf-8?b?", "?=", "=?utf-8?b?5bGx?=", "  ", "Bcc: x@y"]
REFUSED = [*"\r\n\t\x00\x0b\x0c\x1b\x7f\x85\u2028\u2029\u202a\u202e\u2066\u2069\u200e\u200f\u061c\ud800",
           "\r\nBcc: evil@example.com"]
allowed = st.characters(exclude_categories=["Cc", "Cs"], exclude_characters="".join(REFUSED[:-1]))
tricky = st.lists(st.one_of(st.text(allowed, max_size=8), st.sampled_from(TRICKY)), max_size=12).map("".join)
with_refused = st.tuples(tricky, st.sampled_from(REFUSED), tricky).map("".join)
text = st.integers(0, 3).flatmap(lambda draw: with_refused if draw == 0 else tricky)  # one in four refused
names = st.one_of(st.text(max_size=120), text)
subjects = st.one_of(st.text(max_size=300), text)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def compose_with(name: str, subject: str, *, kind: str = "enrolment_confirmed", sender_name: str = "まなび 研修担当",
                 attach: bool = True):  # type: ignore[no-untyped-def]
    return compose(sender=(sender_name, "manabi@pref.example.jp"), recipient=(name, "sato@pref.example.jp"),
                   subject=subject, body=f"{name} 様\n\n本文", message_id="<notification-1@pref.example.jp>",
                   date=datetime(2027, 1, 12, 1, 0, tzinfo=UTC),
                   extra_headers=(("X-Manabi-Kind", kind), ("Auto-Submitted", "auto-generated")),
                   attachments=[Attachment("manabi-1.ics", ICS, "text/calendar", (("method", "PUBLISH"),))] if attach
                   else [])


def read_back(data: bytes):  # type: ignore[no-untyped-def]
    message = message_from_bytes(data, policy=policy.default)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), head  # RFC 5322 §2.1.1, RFC 2047 §2
    assert message.defects == [] and all(not part.defects for part in message.walk())
    assert all(not message[key].defects for key in message.keys())
    return message


def check_display_name(message, data: bytes, header: str, name: str) -> None:  # type: ignore[no-untyped-def]
    raw = message_from_bytes(data, policy=policy.compat32)[header]
    [(phrase, _address)] = getaddresses([raw])
    assert str(make_header(decode_header(phrase))) == name  # RFC 2047 §6.2: exactly as given
    [parsed] = message[header].addresses
    words = len(re.findall(r"=\?utf-8\?b\?[^?]*\?=", raw))
    if words == 0:
        assert parsed.display_name == name  # a quoted string keeps every character
    elif words == 1:
        assert parsed.display_name == re.sub(r" \s+", " ", name)
    else:  # the newer parser adds or merges whitespace where words meet, and nothing else
        assert "".join(parsed.display_name.split()) == "".join(name.split())


def expect_headers(message, *, attach: bool) -> None:  # type: ignore[no-untyped-def]
    assert message.keys() == INTENDED + (["Content-Type"] if attach else
                                         ["Content-Type", "Content-Transfer-Encoding"])
    assert [a.addr_spec for a in message["To"].addresses] == ["sato@pref.example.jp"]
    assert [a.addr_spec for a in message["From"].addresses] == ["manabi@pref.example.jp"]
    assert message["Bcc"] is None and message["Cc"] is None
    if attach:
        text_part, calendar = message.get_payload()
        assert text_part.keys() == ["Content-Type", "Content-Transfer-Encoding"]
        assert calendar.keys() == ["Content-Type", "Content-Disposition", "Content-Transfer-Encoding"]
        assert calendar.get_content().encode() == ICS


@PROPERTY
@given(name=names, subject=subjects, attach=st.booleans())
@example(name="Sato\r\nBcc: evil@example.com", subject="件名", attach=True)
@example(name="山田\u202e太郎", subject="件名", attach=True)
@example(name="山田 太郎", subject="件名\x00", attach=True)
@example(name="=?utf-8?b?5bGx?=", subject="=?utf-8?b?5bGx?=", attach=False)
@example(name=" 山田  太郎 ", subject="  two  spaces  ", attach=False)
def test_names_and_subjects_are_refused_or_read_back_exactly(name: str, subject: str, attach: bool) -> None:
    unsafe = find_unsafe(name) or find_unsafe(subject)
    try:
        mail = compose_with(name, subject, attach=attach)
    except UnsafeText:
        assert unsafe is not None, "refused a value the text rule allows"
        event("refused")
        return
    event("composed, non-ASCII" if not (name + subject).isascii() else "composed, ASCII")
    assert unsafe is None, "composed a value the text rule refuses"
    message = read_back(mail.data)
    expect_headers(message, attach=attach)
    assert str(message["Subject"]) == subject
    check_display_name(message, mail.data, "To", name)


@PROPERTY
@given(sender_name=names, kind=subjects)
def test_the_sender_name_and_extra_header_values_are_refused_or_read_back_exactly(sender_name: str,
                                                                                 kind: str) -> None:
    unsafe = find_unsafe(sender_name) or find_unsafe(kind)
    try:
        mail = compose_with("山田 太郎", "件名", kind=kind, sender_name=sender_name)
    except UnsafeText:
        assert unsafe is not None
        return
    assert unsafe is None
    message = read_back(mail.data)
    expect_headers(message, attach=True)
    assert str(message["X-Manabi-Kind"]) == kind
    check_display_name(message, mail.data, "From", sender_name)


@PROPERTY
@given(before=text, after=text, line_break=st.sampled_from(["\r\n", "\n", "\r", "\x85", "\u2028"]))
def test_a_line_break_anywhere_in_a_name_or_subject_is_refused(before: str, after: str, line_break: str) -> None:
    injected = f"{before}{line_break}Bcc: evil@example.com{after}"
    for name, subject in ((injected, "件名"), ("山田 太郎", injected)):
        try:
            compose_with(name, subject)
        except UnsafeText:
            continue
        raise AssertionError(f"composed {injected!r}")


def test_a_short_japanese_name_reads_back_exactly_in_both_readers() -> None:
    for name in ["山田 太郎", "まなび 研修担当", "佐々木　美咲", "髙橋 𠮷男"]:
        mail = compose_with(name, "件名")
        message = read_back(mail.data)
        assert message["To"].addresses[0].display_name == name
        check_display_name(message, mail.data, "To", name)
