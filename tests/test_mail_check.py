"""`flask mail test ADDRESS`: the operator's first check of the mail settings on a new server,
through a real SMTP server (aiosmtpd on 127.0.0.1)."""
from __future__ import annotations

from email.header import decode_header, make_header

from tests.mailsink import free_port


def test_a_test_message_reaches_the_mail_server(app, runner, mail_sink):
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_HOST="127.0.0.1", MAIL_PORT=mail_sink.port, MAIL_SECURITY="none")
    result = runner.invoke(args=["mail", "test", "hr@pref.example.lg.jp"])
    assert result.exit_code == 0, result.output
    assert "Sent through the smtp transport" in result.stdout
    [message] = mail_sink.messages
    assert message["To"] == "hr@pref.example.lg.jp"
    assert "テストメール" in str(make_header(decode_header(message["Subject"])))


def test_a_closed_port_or_a_bad_address_is_said_plainly(app, runner):
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_HOST="127.0.0.1", MAIL_PORT=free_port(), MAIL_SECURITY="none")
    result = runner.invoke(args=["mail", "test", "hr@pref.example.lg.jp"])
    assert result.exit_code == 1
    assert f"could not send through 127.0.0.1:{app.config['MAIL_PORT']} (ConnectionRefusedError" in result.output
    bad = runner.invoke(args=["mail", "test", "hr@pref.example.lg.jp\r\nBcc: x@evil.example"])
    assert bad.exit_code == 1 and "not a plain e-mail address" in bad.output
