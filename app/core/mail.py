"""Sending e-mail: SMTP (plain, STARTTLS or TLS) from the environment, or .eml files in
development so `make run` needs no mail server.

Messages are composed straight into bytes (`compose`), by hand, because a measurement of real
delivery shows the need (ARCHITECTURE rule 12; bench/mail_compose.py --smtp): a Japanese reminder
with its .ics took ~15–19 µs of CPU on the shared 2-core machine against ~3.8–4.9 ms with the
standard library's EmailMessage (policy SMTP), ~2.5–3.5 ms reusing the batch's parts; composed and
sent over one SMTP connection to a local aiosmtpd, this composer ran at 0.85–0.94 of a bare smtplib
loop of pre-built messages and the standard library at 0.14–0.29 (issue 16 asks for at least 0.5);
the sweep's budget of 15 s for 100,000 leaves 0.15 ms a message for everything. The output is ordinary MIME (UTF-8,
base64 bodies, RFC 2047 headers), and the standard library stays the judge: tests/core/test_mail.py
and test_mail_headers.py parse what `compose` writes with `email.message_from_bytes(...,
policy=email.policy.default)` (and RFC 2047 display names with `email.header.decode_header`), by
example and by property (Hypothesis).

Every header value passes through `header_value`, which refuses (raises `UnsafeText`, a
ValueError) CR, LF, every other control character, bidirectional controls and lone surrogates:
the single-line rule of app/core/text_safety.py. Nothing is silently rewritten into a header, so a name
like "Sato\\r\\nBcc: evil@example.com" fails its message instead of adding a recipient.
"""
from __future__ import annotations

import base64
import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.core.text_safety import check_single_line


@dataclass(frozen=True)
class Attachment:
    filename: str  # ASCII letters, digits, ".", "-", "_": the callers name files after ids
    data: bytes
    mime_type: str  # e.g. "text/calendar"
    params: tuple[tuple[str, str], ...] = ()  # extra Content-Type parameters, e.g. (("method", "PUBLISH"),)


@dataclass(frozen=True)
class OutgoingMail:
    sender: str  # envelope and From address
    recipient: str
    message_id: str  # "<…@…>"
    data: bytes  # the whole message, CRLF line ends
    headers: dict[str, str] = field(default_factory=dict)  # as composed, for logs and the file transport


def header_value(value: str) -> str:
    """The one gate every header value passes: `value` unchanged, or UnsafeText is raised.

    It refuses CR, LF and every other control character (C0, DEL, C1: NUL, TAB, NEL …), U+2028/9,
    the bidirectional controls and lone surrogates, so no value can end a header line, start
    another, or read differently from what it holds.
    """
    return check_single_line(value)


_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")
_MESSAGE_ID = re.compile(rf"<{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*>")  # RFC 5322 msg-id, dot-atom form
_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")  # RFC 2045 token (the safe subset) for types and parameters
_FILENAME = re.compile(r"[A-Za-z0-9._-]+")
_PLAIN_WORD = 60  # ASCII words longer than this are sent as encoded words, so every line stays short


def address(value: str) -> str:
    """An ASCII addr-spec (dot-atom@domain), as the staff import and the settings give them."""
    header_value(value)
    if not _ADDR_SPEC.fullmatch(value):
        raise ValueError(f"not a plain e-mail address: {value!r}")
    return value


def compose(*, sender: tuple[str, str], recipient: tuple[str, str], subject: str, body: str, message_id: str,
            date: datetime, extra_headers: Sequence[tuple[str, str]] = (),
            attachments: Sequence[Attachment] = ()) -> OutgoingMail:
    """A text/plain message (multipart/mixed when something is attached), UTF-8 throughout.

    Raises UnsafeText (a ValueError) when any header value would break its header, and ValueError
    for a malformed address, Message-ID, header name, MIME type or attachment name.
    """
    if not _MESSAGE_ID.fullmatch(header_value(message_id)):
        raise ValueError(f"not a Message-ID: {message_id!r}")
    headers = {"From": _address(*sender), "To": _address(*recipient), "Subject": _header("Subject", subject),
               "Date": _date_header(int(date.timestamp())), "Message-ID": message_id, "MIME-Version": "1.0"}
    for name, value in extra_headers:
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED:
            raise ValueError(f"not an extra header name this composer writes: {name!r}")
        headers[name] = _header(name, value)
    text_part = [b"Content-Type: text/plain; charset=\"utf-8\"", b"Content-Transfer-Encoding: base64", b"",
                 _base64(body.encode())]
    if not attachments:
        lines = [f"{k}: {v}".encode() for k, v in headers.items()] + text_part
    else:
        # "=_" never occurs in base64; a checked Message-ID has no quote, backslash or space to escape.
        boundary = "=_manabi_" + message_id.strip("<>").replace("@", "_")
        headers["Content-Type"] = f'multipart/mixed;\r\n boundary="{boundary}"'
        lines = [f"{k}: {v}".encode() for k, v in headers.items()] + [b"", f"--{boundary}".encode(), *text_part]
        for attachment in attachments:
            lines += [f"--{boundary}".encode(),
                      *_attachment_headers(attachment.filename, attachment.mime_type, attachment.params), b"",
                      _attachment_base64(attachment.data)]
        lines.append(f"--{boundary}--".encode())
    return OutgoingMail(sender[1], recipient[1], message_id, b"\r\n".join(lines) + b"\r\n", headers)


# Written by `compose` itself; an extra header may not add a second one (or a Bcc, Cc …).
_RESERVED = frozenset({"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
                       "content-transfer-encoding", "content-disposition", "sender", "reply-to"})


@lru_cache(maxsize=4096)  # subjects repeat for everyone on a course, and the fixed headers always
def _header(name: str, value: str) -> str:
    """An unstructured header value (Subject, X-…): plain ASCII as is, folded at spaces; anything
    else (non-ASCII, leading space, long words, text that looks like an encoded word) in RFC 2047
    encoded words, which read back exactly."""
    header_value(value)
    words = value.split(" ")
    if not _plain_ascii(value) or value.startswith(" ") or max(map(len, words)) > _PLAIN_WORD:
        return _encoded_words(value, len(name) + 2)
    lines, line = [], words[0]
    width = len(name) + 2  # "Subject: "
    for word in words[1:]:
        if word and width + len(line) + 1 + len(word) > 76 and line.strip():
            lines.append(line)
            line, width = " " + word, 0  # the space is the folding whitespace, kept when unfolded
        else:
            line += " " + word
    return "\r\n".join([*lines, line])


def _plain_ascii(value: str) -> bool:
    return value.isascii() and "=?" not in value


@lru_cache(maxsize=8)  # a sweep sends thousands of messages within the same second
def _date_header(timestamp: int) -> str:
    return header_value(format_datetime(datetime.fromtimestamp(timestamp, UTC)))


@lru_cache(maxsize=4096)  # the sender, and recipients who get several messages in a sweep
def _address(name: str, addr_spec: str) -> str:
    """'"Display name" <addr>' (a quoted string for plain ASCII names) or encoded words and <addr>.

    A long name takes several encoded words, cut between characters: RFC 2047 §6.2 readers join them
    exactly. (The standard library's newer parser puts a space between adjacent encoded words of a
    display name, and treats a space followed by more whitespace as one space; so does its own
    generator's output. tests/core/test_mail_headers.py checks both readings.)"""
    name, addr_spec = header_value(name), address(addr_spec)
    if not name:
        return addr_spec
    if _plain_ascii(name) and len(name) <= _PLAIN_WORD:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        phrase = f'"{quoted}"'
    else:
        phrase = _encoded_words(name, len("From: "))
    last_line = phrase.rsplit("\n", 1)[-1]
    fits = len(last_line) + len(addr_spec) + 8 <= 76  # "From: " or a continuation's space, " <", ">"
    return f"{phrase}{' ' if fits else _FOLD}<{addr_spec}>"


_FOLD = "\r\n "  # folding whitespace: unfolded, it is the one space


def _encoded_words(value: str, used: int = 0) -> str:
    """RFC 2047 B-encoding in words of at most 64 characters, never splitting a character; the first
    word fits after the `used` columns of its line ("Subject: "), or starts on the next line."""
    data = value.encode()
    words, start = [], 0
    room = min(39, (76 - used - 12) // 4 * 3)  # 39 bytes → 52 base64 characters → a 64-character word
    if room < 4:  # a very long header name: no character fits after it
        words, room = [""], 39
    while start < len(data):
        cut = min(start + room, len(data))
        while cut < len(data) and data[cut] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            cut -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:cut]).decode()}?=")
        start, room = cut, 39
    return "\r\n ".join(words)


def _quotable(value: str) -> str:
    """A parameter value written inside quotes: printable ASCII without quotes or backslashes."""
    header_value(value)
    if not value.isascii() or '"' in value or "\\" in value:
        raise ValueError(f"not a plain parameter value: {value!r}")
    return value


@lru_cache(maxsize=4096)  # a sweep attaches each session's file, under the same few names, many times
def _attachment_headers(filename: str, mime_type: str, params: tuple[tuple[str, str], ...]) -> tuple[bytes, ...]:
    maintype, _slash, subtype = header_value(mime_type).partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        raise ValueError(f"not a MIME type: {mime_type!r}")
    if not _FILENAME.fullmatch(header_value(filename)):
        raise ValueError(f"not a plain attachment name: {filename!r}")
    written = ""
    for key, value in params:
        if not _TOKEN.fullmatch(header_value(key)):
            raise ValueError(f"not a parameter name: {key!r}")
        written += f'; {key}="{_quotable(value)}"'
    return (f'Content-Type: {mime_type}; charset="utf-8"{written}'.encode(),
            f'Content-Disposition: attachment; filename="{filename}"'.encode(),
            b"Content-Transfer-Encoding: base64")


# A sweep attaches each session's .ics (the same bytes object, from its CalendarCache) many times;
# as many entries as that cache holds (app/reminders/facts.py), a few MB at most.
@lru_cache(maxsize=4096)
def _attachment_base64(data: bytes) -> bytes:
    return _base64(data)


def _base64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (RFC 2045)."""
    encoded = base64.b64encode(data)
    return b"\r\n".join([encoded[i:i + 76] for i in range(0, len(encoded), 76)])


class Transport:
    """Where mail goes. `batch()` lets a sender keep one connection open for many messages."""

    def send(self, mail: OutgoingMail) -> None:
        raise NotImplementedError

    @contextmanager
    def batch(self) -> Iterator[None]:
        yield


@dataclass
class SmtpTransport(Transport):
    host: str
    port: int
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0
    _client: smtplib.SMTP | None = field(default=None, init=False, repr=False)
    _in_batch: bool = field(default=False, init=False, repr=False)

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context() if self.security in ("tls", "starttls") else None
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context=context)
        if self.username:
            client.login(self.username, self.password or "")
        return client

    def send(self, mail: OutgoingMail) -> None:
        if not self._in_batch:
            with self._connect() as client:
                client.sendmail(mail.sender, [mail.recipient], mail.data)
            return
        if self._client is None:
            self._client = self._connect()
        try:
            self._client.sendmail(mail.sender, [mail.recipient], mail.data)
        except smtplib.SMTPRecipientsRefused:
            raise  # the connection is fine; only this message failed
        except Exception:
            self._drop()  # the next message opens a fresh connection
            raise

    @contextmanager
    def batch(self) -> Iterator[None]:
        self._in_batch = True
        try:
            yield
        finally:
            self._in_batch = False
            if self._client is not None:
                try:
                    self._client.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None


@dataclass
class FileTransport(Transport):
    """Development: each message becomes an .eml file you can open in a mail program."""

    directory: Path

    def send(self, mail: OutgoingMail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = mail.message_id.strip("<>").replace("@", "_at_").replace("/", "_")
        (self.directory / f"{name}.eml").write_bytes(mail.data)


class DiscardTransport(Transport):
    """Composes every message and drops it: load tests and staging copies of production data,
    where nobody must be mailed (MAIL_TRANSPORT=discard)."""

    def send(self, mail: OutgoingMail) -> None:
        return None


def transport_from_config(config: Mapping[str, Any]) -> Transport:
    if config.get("MAIL_TRANSPORT") == "file":
        return FileTransport(Path(config["MAIL_FILE_DIR"]))
    if config.get("MAIL_TRANSPORT") == "discard":
        return DiscardTransport()
    return SmtpTransport(host=config["MAIL_HOST"], port=int(config["MAIL_PORT"]),
                         security=config.get("MAIL_SECURITY", "none"), username=config.get("MAIL_USERNAME"),
                         password=config.get("MAIL_PASSWORD"))
