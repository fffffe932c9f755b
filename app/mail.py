"""Sending e-mail: SMTP (plain, STARTTLS or TLS) from the environment, or .eml files in
development so `make run` needs no mail server.

Messages are composed straight into bytes (`compose`): the standard library's EmailMessage spent
about 1 ms a message on header parsing, which would bound the reminder sweep at ~1,000 a second.
The output is ordinary MIME (UTF-8, base64 bodies, RFC 2047 headers) that any reader parses.
"""
from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, formataddr
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Attachment:
    filename: str  # ASCII: the callers name files after ids
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


def compose(*, sender: tuple[str, str], recipient: tuple[str, str], subject: str, body: str, message_id: str,
            date: datetime, extra_headers: Sequence[tuple[str, str]] = (),
            attachments: Sequence[Attachment] = ()) -> OutgoingMail:
    """A text/plain message (multipart/mixed when something is attached), UTF-8 throughout."""
    headers = {"From": _address(*sender), "To": _address(*recipient), "Subject": _header(subject), "Date": _date_header(int(date.timestamp())), "Message-ID": message_id,
               "MIME-Version": "1.0"}
    for name, value in extra_headers:
        headers[name] = _header(value)
    text_part = [b"Content-Type: text/plain; charset=\"utf-8\"", b"Content-Transfer-Encoding: base64", b"",
                 _base64(body.encode())]
    if not attachments:
        lines = [f"{k}: {v}".encode() for k, v in headers.items()] + text_part
    else:
        boundary = "=_manabi_" + message_id.strip("<>").replace("@", "_")  # "=_" never occurs in base64
        headers["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
        lines = [f"{k}: {v}".encode() for k, v in headers.items()] + [b"", f"--{boundary}".encode(), *text_part]
        for attachment in attachments:
            params = "".join(f'; {k}="{v}"' for k, v in attachment.params)
            lines += [f"--{boundary}".encode(), f"Content-Type: {attachment.mime_type}; charset=\"utf-8\"{params}".encode(),
                      f'Content-Disposition: attachment; filename="{attachment.filename}"'.encode(),
                      b"Content-Transfer-Encoding: base64", b"", _attachment_base64(attachment.data)]
        lines.append(f"--{boundary}--".encode())
    return OutgoingMail(sender[1], recipient[1], message_id, b"\r\n".join(lines) + b"\r\n", headers)


@lru_cache(maxsize=4096)  # subjects repeat for everyone on a course, and the fixed headers always
def _header(value: str) -> str:
    value = " ".join(value.splitlines())  # a header never carries a line break from user text
    if not value.isascii():
        return _encoded_words(value)
    lines, current = [], ""
    for word in value.split(" "):  # fold long English subjects at spaces (RFC 5322 §2.2.3)
        if current and len(current) + 1 + len(word) > 70:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return "\r\n ".join([*lines, current])


@lru_cache(maxsize=8)  # a sweep sends thousands of messages within the same second
def _date_header(timestamp: int) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, timezone.utc))


@lru_cache(maxsize=4096)  # the sender, and recipients who get several messages in a sweep
def _address(name: str, address: str) -> str:
    if name.isascii():
        return formataddr((name, address))  # quotes the name when it needs quoting
    return f"{_encoded_words(name)} <{address}>"


def _encoded_words(value: str) -> str:
    """RFC 2047 B-encoding in words of at most 75 characters, never splitting a character."""
    data = value.encode()
    words, start = [], 0
    while start < len(data):
        cut = min(start + 39, len(data))  # 39 bytes → 52 base64 characters → a 64-character word
        while cut < len(data) and data[cut] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            cut -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:cut]).decode()}?=")
        start = cut
    return "\r\n ".join(words)


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


def transport_from_config(config: dict) -> Transport:  # type: ignore[type-arg]
    if config.get("MAIL_TRANSPORT") == "file":
        return FileTransport(Path(config["MAIL_FILE_DIR"]))
    if config.get("MAIL_TRANSPORT") == "discard":
        return DiscardTransport()
    return SmtpTransport(host=config["MAIL_HOST"], port=int(config["MAIL_PORT"]),
                         security=config.get("MAIL_SECURITY", "none"), username=config.get("MAIL_USERNAME"),
                         password=config.get("MAIL_PASSWORD"))
