"""Sending e-mail: SMTP (plain, STARTTLS or TLS) from the environment, or .eml files in
development so `make run` needs no mail server. Callers build EmailMessage objects."""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass
class SmtpTransport:
    host: str
    port: int
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context() if self.security in ("tls", "starttls") else None
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)


@dataclass
class FileTransport:
    """Development: each message becomes an .eml file you can open in a mail program."""

    directory: Path

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("@", "_at_").replace("/", "_")
        (self.directory / f"{name}.eml").write_bytes(bytes(message))


def transport_from_config(config: dict) -> Transport:  # type: ignore[type-arg]
    if config.get("MAIL_TRANSPORT") == "file":
        return FileTransport(Path(config["MAIL_FILE_DIR"]))
    return SmtpTransport(host=config["MAIL_HOST"], port=int(config["MAIL_PORT"]),
                         security=config.get("MAIL_SECURITY", "none"), username=config.get("MAIL_USERNAME"),
                         password=config.get("MAIL_PASSWORD"))
