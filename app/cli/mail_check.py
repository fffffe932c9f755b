"""`flask mail test ADDRESS`: one message through the configured transport, so an operator sees at
once whether the mail server takes Manabi's mail (address, port, TLS, credentials) before the
first reminder is due. It prints the outcome and the server's refusal if any; nothing is stored."""
from __future__ import annotations

import secrets
import smtplib

import click
from flask import current_app
from flask.cli import with_appcontext

from app.core.clock import now
from app.core.mail import address, compose, transport_from_config


@click.group("mail", help="Outgoing mail: check the settings.")
def mail_group() -> None:
    pass


@mail_group.command("test")
@click.argument("recipient")
@with_appcontext
def mail_test_cmd(recipient: str) -> None:
    """Send one test message to RECIPIENT with the MAIL_* settings."""
    config = current_app.config
    try:
        to = address(recipient.strip())
    except ValueError:
        raise click.ClickException("not a plain e-mail address (name@example.jp)") from None
    mail = compose(sender=("Manabi", config["MAIL_SENDER"]), recipient=("", to),
                   subject="Manabi: テストメール / test message",
                   body="Manabi の送信設定の確認です。このメールへの返信は不要です。\n"
                        "This message checks Manabi's mail settings; no reply is needed.\n",
                   message_id=f"<test-{secrets.token_hex(8)}@{config['CALENDAR_UID_DOMAIN']}>", date=now())
    transport = transport_from_config(config)
    try:
        with transport.batch():
            transport.send(mail)
    except smtplib.SMTPResponseException as error:
        reply = error.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
        raise click.ClickException(f"the mail server refused: {error.smtp_code} {text}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise click.ClickException(f"could not send through {config.get('MAIL_HOST')}:{config.get('MAIL_PORT')} "
                                   f"({type(error).__name__}: {error})") from None
    click.echo(f"Sent through the {config.get('MAIL_TRANSPORT', 'smtp')} transport: {mail.message_id}")
