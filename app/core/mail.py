"""Sending e-mail: SMTP (plain, STARTTLS or TLS) from the environment, or .eml files in
development so `make run` needs no mail server.

Messages are composed (`compose`) with the standard library's email package, its legacy API
(`email.message.Message`, `email.header.Header`, `email.encoders`, `email.utils`, generated with
a compat32 policy with CRLF line ends), because real delivery is where the time goes
(bench/mail_compose.py --smtp, on the shared 2-core machine): a Japanese confirmation with its
.ics takes ~160 µs of CPU with what a batch shares reused (the From header, each Subject and
extra header folded once, the Date of a second, each .ics part, a fixed boundary), against
~0.75 ms for the legacy API used plainly and ~2.8–3.1 ms for EmailMessage with policy SMTP
(~2.0 ms reusing parts); composed and sent over one SMTP connection to a local aiosmtpd, this
runs at ~0.86 of a bare smtplib loop of pre-built messages, the plain legacy API at ~0.47 and
EmailMessage at ~0.2 (issue 16 asks for at least 0.5; the whole sweep is bench/sweep_smtp.py).
The one liberty taken with the library is `_Policy`: its generator writes a header value that is
already folded (by `email.header.Header`, when composed) as it is, instead of folding it again
for every message. The output is ordinary MIME (UTF-8, base64 bodies, RFC 2047 headers), and
the standard library's newer parser is the judge: tests/core/test_mail.py and
test_mail_headers.py parse what `compose` writes with `email.message_from_bytes(...,
policy=email.policy.default)` (and RFC 2047 display names with `email.header.decode_header`), by
example and by property (Hypothesis).

Every header value passes through `header_value`, which refuses (raises `UnsafeText`, a
ValueError) CR, LF, every other control character, bidirectional controls and lone surrogates:
the single-line rule of app/core/text_safety.py. Nothing is silently rewritten into a header, so a name
like "Sato\\r\\nBcc: evil@example.com" fails its message instead of adding a recipient.
"""
from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.charset import BASE64, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.policy import Compat32
from email.utils import format_datetime, quote
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.core.text_safety import check_single_line


@dataclass(frozen=True)
class Attachment:
    filename: str  # ASCII letters, digits, ".", "-", "_": the callers name files after ids
    data: bytes
    mime_type: str  # e.g. "text/calendar"; text/* is UTF-8 text
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
_LINE = 78  # RFC 5322 §2.1.1: header lines of at most 78 characters

# UTF-8 with base64 both for bodies and for RFC 2047 encoded words in headers (the standard
# library's default picks quoted-printable words for mostly-ASCII text; base64 words read the same
# in every reader, and for Japanese they are the shorter anyway).
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = BASE64
# "=_" never occurs in base64, and every part is base64, so one fixed boundary is never in a
# part's text (the standard library would otherwise make a random one and search the whole
# message for it with a regular expression compiled anew: a sixth of the time a message took).
_BOUNDARY = "=_manabi_part"


class _Policy(Compat32):
    """compat32 with CRLF line ends, whose generator writes a header value that is already folded
    (every line at most 78 characters, each continuation starting with whitespace, ASCII) as it
    is, which is what compat32's own folding writes for such a value too, only without re-parsing
    it for every message. Values are folded once, when composed, by `email.header.Header`, and
    reused for the batch (the From header, each Subject, the Date of a second). Any other value
    with a line break is refused (compat32 would write some of them, "a\\r\\n\\r\\nb" as two
    lines); the rest (what the email package writes itself: Content-Type …) goes through
    compat32's folding as before."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if isinstance(value, str):
            written = f"{name}: {value}"
            if _FOLDED.fullmatch(written):
                return f"{written}\r\n".encode("ascii")
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} is not a folded value")
        return super().fold_binary(name, value)


# A header already folded: printable ASCII lines of at most 78 characters, each continuation
# starting with whitespace and holding more than whitespace (so nothing can start a new header).
_FOLDED = re.compile(r"[ -~]{0,78}(?:\r\n[ \t](?=[ -~]*[!-~])[ -~]{0,77})*")

_POLICY = _Policy(linesep="\r\n")


def address(value: str) -> str:
    """An ASCII addr-spec (dot-atom@domain), as the staff import and the settings give them."""
    header_value(value)
    if not _ADDR_SPEC.fullmatch(value):
        raise ValueError(f"not a plain e-mail address: {value!r}")
    return value


def compose(*, sender: tuple[str, str], recipient: tuple[str, str], subject: str, body: str, message_id: str,
            date: datetime, extra_headers: Sequence[tuple[str, str]] = (),
            attachments: Sequence[Attachment] = ()) -> OutgoingMail:
    """A text/plain message (multipart/mixed when something is attached), UTF-8 throughout, built
    with the standard library's email package (its legacy API: `email.message.Message`,
    `email.header`, `email.encoders`).

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
    message = Message(policy=_POLICY)
    for name, value in headers.items():
        message[name] = value
    if not attachments:
        _base64_part(message, "text/plain", body.encode(), _UTF8_TEXT)
    else:
        message.add_header("Content-Type", "multipart/mixed", boundary=_BOUNDARY)
        message.attach(_base64_part(Message(), "text/plain", body.encode(), _UTF8_TEXT))
        for attachment in attachments:
            message.attach(_attachment_part(attachment))
    return OutgoingMail(sender[1], recipient[1], message_id, message.as_bytes(), headers)


# Written by `compose` itself; an extra header may not add a second one (or a Bcc, Cc …).
_RESERVED = frozenset({"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
                       "content-transfer-encoding", "content-disposition", "sender", "reply-to"})


@lru_cache(maxsize=4096)  # subjects repeat for everyone on a course, and the fixed headers always
def _header(name: str, value: str) -> str:
    """An unstructured header value (Subject, X-…), folded: plain ASCII at its spaces; anything
    else (non-ASCII, a leading space, long words, text that looks like an encoded word) as RFC 2047
    encoded words, which read back exactly."""
    header_value(value)
    if _plain_ascii(value) and not value.startswith(" ") and max(map(len, value.split(" "))) <= _PLAIN_WORD:
        folded = Header(value, header_name=name).encode(linesep="\r\n")
        if _FOLDED.fullmatch(f"{name}: {folded}"):  # not when a run of spaces is too long for a line
            return folded
    return Header(value, _UTF8, header_name=name).encode(linesep="\r\n")


def _plain_ascii(value: str) -> bool:
    return value.isascii() and "=?" not in value


@lru_cache(maxsize=8)  # a sweep sends thousands of messages within the same second
def _date_header(timestamp: int) -> str:
    return header_value(format_datetime(datetime.fromtimestamp(timestamp, UTC)))


@lru_cache(maxsize=4096)  # the sender, and recipients who get several messages in a sweep
def _address(name: str, addr_spec: str) -> str:
    """'"Display name" <addr>' (a quoted string for a plain ASCII name) or RFC 2047 encoded words
    and <addr>.

    A long name takes several encoded words, cut between characters: RFC 2047 §6.2 readers join them
    exactly. (The standard library's newer parser puts a space between adjacent encoded words of a
    display name, and treats a space followed by more whitespace as one space; so does its own
    generator's output. tests/core/test_mail_headers.py checks both readings.)"""
    name, addr_spec = header_value(name), address(addr_spec)
    if not name:
        return addr_spec
    if _plain_ascii(name) and len(name) <= _PLAIN_WORD:
        phrase = f'"{quote(name)}"'  # every character kept: spaces at either end, "=?", specials
    else:
        phrase = Header(name, _UTF8, header_name="From").encode(linesep="\r\n")
    last_line = phrase.rsplit("\n", 1)[-1]
    fits = len(last_line) + len(addr_spec) + 8 <= _LINE  # "From: " or a continuation's space, " <", ">"
    return f"{phrase}{' ' if fits else _FOLD}<{addr_spec}>"


_FOLD = "\r\n "  # folding whitespace: unfolded, it is the one space


def _quotable(value: str) -> str:
    """A parameter value: printable ASCII without quotes or backslashes."""
    header_value(value)
    if not value.isascii() or '"' in value or "\\" in value:
        raise ValueError(f"not a plain parameter value: {value!r}")
    return value


def _base64_part(part: Message, content_type: str, data: bytes, params: Mapping[str, str],
                 filename: str | None = None) -> Message:
    """`part` holding `data` in base64 (email.encoders), with its Content-Type parameters and, for
    an attachment, its file name."""
    part.add_header("Content-Type", content_type, **params)
    if filename is not None:
        part.add_header("Content-Disposition", "attachment", filename=filename)
    part.set_payload(data)
    encode_base64(part)
    return part


_UTF8_TEXT = {"charset": "utf-8"}


# A sweep attaches each session's .ics (the same bytes object, from its CalendarCache) to many
# messages: each part is built once (as many as that cache holds, a few MB at most). The
# generator only reads a part, so one can go into any number of messages.
@lru_cache(maxsize=4096)
def _attachment_part(attachment: Attachment) -> Message:
    maintype, _slash, subtype = header_value(attachment.mime_type).partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        raise ValueError(f"not a MIME type: {attachment.mime_type!r}")
    if not _FILENAME.fullmatch(header_value(attachment.filename)):
        raise ValueError(f"not a plain attachment name: {attachment.filename!r}")
    params = dict(_UTF8_TEXT) if maintype == "text" else {}  # text attachments are UTF-8, as the bodies
    for key, value in attachment.params:
        if not _TOKEN.fullmatch(header_value(key)) or key.lower() == "charset":
            raise ValueError(f"not a parameter name: {key!r}")
        params[key] = _quotable(value)
    return _base64_part(Message(), f"{maintype}/{subtype}", attachment.data, params, attachment.filename)


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
