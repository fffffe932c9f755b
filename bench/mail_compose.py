"""Mail composition, per message and in real delivery: `python bench/mail_compose.py [--smtp]`.

A realistic confirmation (Japanese subject, recipient display name and body, a session's .ics
attached) composed to bytes by:
  - app.core.mail.compose, the composer the sweep uses: the standard library's legacy email API
    (email.message.Message, email.header.Header, email.encoders), what a batch shares reused (the
    From header, each Subject, the Date of a second, each .ics part), every header through
    `header_value`;
  - the legacy API used plainly, nothing reused (MIMEMultipart, MIMEText, formataddr, Header,
    a boundary the generator makes);
  - the modern API: EmailMessage with policy SMTP, built from scratch each time;
  - the modern API reusing what a batch shares (the From header, the Subject, the .ics part).
Recipients cycle through 1,000 distinct people and each message names its own .ics file (as the
sweep does: one per place) so caches see what a sweep gives them. Composition is the best of
--repeat runs in CPU time (process_time: the machine is shared), per message.

With --smtp it also delivers --smtp-n messages over one SMTP connection to aiosmtpd running as a
separate process on 127.0.0.1, and reports each composer's compose-and-send rate as a fraction of
a bare smtplib loop sending pre-built messages to the same server in the same run (measured
before and after the composers; the mean is the ceiling). The whole sweep over SMTP is
bench/sweep_smtp.py.
"""
from __future__ import annotations

import argparse
import smtplib
import sys
import time
import timeit
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP, compat32
from email.utils import format_datetime, formataddr
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


def ics_name(n: int) -> str:
    return f"manabi-{n}.ics"  # one file name per place, as the sweep names them


def with_app_mail(n: int) -> bytes:
    name, address = PEOPLE[n % len(PEOPLE)]
    return compose(sender=SENDER, recipient=(name, address), subject=SUBJECT, body=BODY.format(name=name, n=n),
                   message_id=f"<notification-{n}@pref.example.jp>", date=DATE, extra_headers=EXTRA,
                   attachments=(Attachment(ics_name(n), ICS, "text/calendar", (("method", "PUBLISH"),)),)).data


_COMPAT32_CRLF = compat32.clone(linesep="\r\n")


def with_legacy_plain(n: int) -> bytes:
    name, address = PEOPLE[n % len(PEOPLE)]
    message = MIMEMultipart()
    message["From"] = formataddr(SENDER, charset="utf-8")
    message["To"] = formataddr((name, address), charset="utf-8")
    message["Subject"] = Header(SUBJECT, "utf-8").encode()
    message["Date"] = format_datetime(DATE)
    message["Message-ID"] = f"<notification-{n}@pref.example.jp>"
    for key, value in EXTRA:
        message[key] = value
    message.attach(MIMEText(BODY.format(name=name, n=n), "plain", "utf-8"))
    calendar = MIMEText(ICS.decode(), "calendar", "utf-8")
    calendar.set_param("method", "PUBLISH")
    calendar.add_header("Content-Disposition", "attachment", filename=ics_name(n))
    message.attach(calendar)
    return message.as_bytes(policy=_COMPAT32_CRLF)


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
    message.add_attachment(ICS, maintype="text", subtype="calendar", filename=ics_name(n),
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
    message.attach(_ics_part(ICS, ics_name(n % 50)))  # reused: as if every place shared one file
    return message.as_bytes()


COMPOSERS = (("app.core.mail.compose (legacy API, reuse)", with_app_mail),
             ("legacy API, nothing reused", with_legacy_plain),
             ("EmailMessage (SMTP policy)", with_stdlib),
             ("EmailMessage, batch parts reused", with_stdlib_reuse))


def calendar_file() -> bytes:
    """A session's .ics as the sweep builds it (icalendar), once per distinct session and state."""
    from app.enrollment.calendar import CalendarEntry, calendar_bytes
    from app.enrollment.models import EnrolmentState

    starts = datetime(2027, 1, 19, 4, 30, tzinfo=UTC)
    entry = CalendarEntry(((123, starts, starts + timedelta(hours=3, minutes=30)),), 0,
                          "ＤＸ推進のためのデータ利活用と業務改革（課長級）", "DX-301", "",
                          "県庁 本館 5階 501会議室", "", False, EnrolmentState.CONFIRMED)
    return calendar_bytes([entry], domain="pref.example.jp", name=entry.title, base_url="https://manabi.pref.example.jp")


def composition(n: int, repeat: int) -> None:
    for label, function in COMPOSERS:
        counter = iter(range(10**9))
        best = min(timeit.repeat(lambda function=function, counter=counter: function(next(counter)),
                                 number=n, repeat=repeat, timer=time.process_time))
        print(f"compose  {label:40s} {best / n * 1e6:8.1f} µs CPU/message  ({n / best:8.0f} msg/s)")
    files = max(1, n // 10)
    best = min(timeit.repeat(calendar_file, number=files, repeat=repeat, timer=time.process_time))
    print(f"calendar {'.ics of one meeting (icalendar)':40s} {best / files * 1e6:8.1f} µs CPU/file "
          "(built once per session in a sweep)")


def delivery(n: int) -> None:
    from bench.sweep_smtp import smtp_sink

    with smtp_sink() as port:

        def send_all(make) -> float:  # type: ignore[no-untyped-def]
            with smtplib.SMTP("127.0.0.1", port) as client:
                start = time.perf_counter()
                for index in range(n):
                    client.sendmail("manabi@pref.example.jp", [PEOPLE[index % len(PEOPLE)][1]], make(index))
                return n / (time.perf_counter() - start)

        prebuilt = [with_app_mail(index) for index in range(n)]
        before = send_all(lambda index: prebuilt[index])
        rates = [(label, send_all(function)) for label, function in COMPOSERS]
        after = send_all(lambda index: prebuilt[index])
        bare = (before + after) / 2
        print(f"deliver  bare smtplib loop, pre-built messages        {bare:8.0f} msg/s  (1.00; {before:.0f} before, "
              f"{after:.0f} after)")
        for label, rate in rates:
            print(f"deliver  {label:40s} + send {rate:8.0f} msg/s  ({rate / bare:.2f} of bare)")


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
