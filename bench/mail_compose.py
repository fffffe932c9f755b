"""Mail composition, per message and in real delivery: `python bench/mail_compose.py [--smtp]`.

A realistic reminder (Japanese subject, recipient display name and body, a session's .ics
attached) composed to bytes by:
  - app.core.mail.compose, the composer the sweep uses (every header through `header_value`);
  - the standard library alone: EmailMessage with policy SMTP, built from scratch each time;
  - the standard library reusing what a batch shares (the From header, the Subject of a course,
    the .ics part), as issue 16 suggests.
Recipients cycle through 1,000 distinct people so caches see what a sweep gives them. Composition
is the best of --repeat runs in CPU time (process_time: the machine is shared), per message.

With --smtp it also delivers --smtp-n messages over one SMTP connection to aiosmtpd running as a
separate process on 127.0.0.1, and reports each composer's compose-and-send rate as a fraction of
a bare smtplib loop sending pre-built messages to the same server in the same run (issue 16's
measure: the sweep must reach at least 0.5 of it).
"""
from __future__ import annotations

import argparse
import smtplib
import socket
import subprocess
import sys
import time
import timeit
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.mail import Attachment, compose

SUBJECT = "【まなび】受講が確定しました：ＤＸ推進のためのデータ利活用と業務改革（課長級）"
BODY = ("{name} 様\n\n次の研修の受講が確定しました。\n\n研修：ＤＸ推進のためのデータ利活用と業務改革（課長級）\n"
        "日時：2027年1月19日(火) 13:30\n会場：県庁 本館 5階 501会議室\n\n詳細・キャンセル："
        "https://manabi.pref.example.jp/enrolments/{n}\n\n予定表に登録できるファイル（.ics）を添付しています。\n\n"
        "――\nまなび（職員研修）\n人事課 研修担当\n")
ICS = ("BEGIN:VCALENDAR\r\nPRODID:-//Manabi//Staff training//JA\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\n"
       "METHOD:PUBLISH\r\nX-WR-CALNAME:まなび\r\nX-WR-TIMEZONE:Asia/Tokyo\r\nBEGIN:VEVENT\r\n"
       "SUMMARY:ＤＸ推進のためのデータ利活用と業務改革（課長級）\r\nDTSTART;TZID=Asia/Tokyo:20270119T133000\r\n"
       "DTEND;TZID=Asia/Tokyo:20270119T170000\r\nDTSTAMP:20270112T010000Z\r\n"
       "UID:manabi-meeting-123@pref.example.jp\r\nSEQUENCE:0\r\nSTATUS:CONFIRMED\r\n"
       "LOCATION:県庁 本館 5階 501会議室\r\nDESCRIPTION:ＤＸ推進のためのデータ利活用と業務改革（課長級）\\n"
       "https://manabi.pref.example.jp/catalog/courses/DX-301\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\n"
       "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZNAME:JST\r\n"
       "TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n").encode()
SENDER = ("まなび 研修担当", "manabi@pref.example.jp")
FAMILY, GIVEN = "佐藤鈴木高橋田中伊藤渡辺山本中村小林加藤", "太郎花子一郎次郎美咲翔太陽菜大輔"
PEOPLE = [(f"{FAMILY[i % 10 * 2:i % 10 * 2 + 2]} {GIVEN[i % 8 * 2:i % 8 * 2 + 2]}{i}", f"staff{i}@pref.example.jp")
          for i in range(1000)]
DATE = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)
EXTRA = (("X-Manabi-Kind", "enrolment_confirmed"), ("Auto-Submitted", "auto-generated"))


def with_app_mail(n: int) -> bytes:
    name, address = PEOPLE[n % len(PEOPLE)]
    return compose(sender=SENDER, recipient=(name, address), subject=SUBJECT, body=BODY.format(name=name, n=n),
                   message_id=f"<notification-{n}@pref.example.jp>", date=DATE, extra_headers=EXTRA,
                   attachments=(Attachment(f"manabi-{n % 50}.ics", ICS, "text/calendar", (("method", "PUBLISH"),)),)
                   ).data


def with_stdlib(n: int) -> bytes:
    name, address = PEOPLE[n % len(PEOPLE)]
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(SENDER[0], addr_spec=SENDER[1])
    message["To"] = Address(name, addr_spec=address)
    message["Subject"] = SUBJECT
    message["Date"] = DATE
    message["Message-ID"] = f"<notification-{n}@pref.example.jp>"
    for key, value in EXTRA:
        message[key] = value
    message.set_content(BODY.format(name=name, n=n), cte="base64")
    message.add_attachment(ICS, maintype="text", subtype="calendar", filename=f"manabi-{n % 50}.ics",
                           params={"method": "PUBLISH", "charset": "utf-8"})
    return message.as_bytes()


@lru_cache(maxsize=64)
def _header(name: str, value: object):  # type: ignore[no-untyped-def]
    return SMTP.header_factory(name, value)


@lru_cache(maxsize=64)
def _from(display_name: str, address: str):  # type: ignore[no-untyped-def]
    return SMTP.header_factory("From", Address(display_name, addr_spec=address))


@lru_cache(maxsize=64)
def _ics_part(data: bytes, filename: str) -> MIMEPart:
    part = MIMEPart(policy=SMTP)
    part.set_content(data, maintype="text", subtype="calendar", filename=filename,
                     params={"method": "PUBLISH", "charset": "utf-8"}, disposition="attachment")
    return part


def with_stdlib_reuse(n: int) -> bytes:
    name, address = PEOPLE[n % len(PEOPLE)]
    message = EmailMessage(policy=SMTP)
    message["From"] = _from(*SENDER)
    message["To"] = Address(name, addr_spec=address)
    message["Subject"] = _header("Subject", SUBJECT)
    message["Date"] = _header("Date", DATE)
    message["Message-ID"] = f"<notification-{n}@pref.example.jp>"
    for key, value in EXTRA:
        message[key] = _header(key, value)
    message.set_content(BODY.format(name=name, n=n), cte="base64")
    message.make_mixed()
    message.attach(_ics_part(ICS, f"manabi-{n % 50}.ics"))
    return message.as_bytes()


COMPOSERS = (("app.core.mail.compose", with_app_mail), ("stdlib EmailMessage (SMTP policy)", with_stdlib),
             ("stdlib, batch parts reused", with_stdlib_reuse))


def composition(n: int, repeat: int) -> None:
    for label, function in COMPOSERS:
        counter = iter(range(10**9))
        best = min(timeit.repeat(lambda function=function, counter=counter: function(next(counter)),
                                 number=n, repeat=repeat, timer=time.process_time))
        print(f"compose  {label:36s} {best / n * 1e6:8.1f} µs CPU/message  ({n / best:8.0f} msg/s)")


def delivery(n: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
                               "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

        def send_all(make) -> float:  # type: ignore[no-untyped-def]
            with smtplib.SMTP("127.0.0.1", port) as client:
                start = time.perf_counter()
                for index in range(n):
                    client.sendmail("manabi@pref.example.jp", [PEOPLE[index % len(PEOPLE)][1]], make(index))
                return n / (time.perf_counter() - start)

        prebuilt = [with_app_mail(index) for index in range(n)]
        bare = send_all(lambda index: prebuilt[index])
        print(f"deliver  bare smtplib loop, pre-built messages      {bare:8.0f} msg/s  (1.00)")
        for label, function in COMPOSERS:
            rate = send_all(function)
            print(f"deliver  {label:36s} + send {rate:8.0f} msg/s  ({rate / bare:.2f} of bare)")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--smtp", action="store_true", help="also measure real delivery to a local aiosmtpd")
    parser.add_argument("--smtp-n", type=int, default=2000)
    args = parser.parse_args()
    composition(args.n, args.repeat)
    if args.smtp:
        delivery(args.smtp_n)


if __name__ == "__main__":
    main()
