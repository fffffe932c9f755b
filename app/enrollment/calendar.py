"""iCalendar files: one per enrolment and one private feed per person.

Every meeting is a VEVENT whose UID never changes; SEQUENCE rises when the session moves, and a
cancelled session (or a cancelled place) is sent as STATUS:CANCELLED so calendars update in place.

The text is written here rather than through the icalendar package: the reminder sweep attaches a
file to each confirmation, and icalendar spent ~1 ms on one event (the tests still read every file
back with icalendar, an independent parser).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.clock import TOKYO, now
from app.enrollment.models import Enrolment, EnrolmentState
from app.scheduling.models import SessionStatus

PRODID = "-//Manabi//Staff training//JA"
# Japan has kept +09:00 without daylight saving since 1951, so one STANDARD block is exact.
TOKYO_VTIMEZONE = ("BEGIN:VTIMEZONE", "TZID:Asia/Tokyo", "BEGIN:STANDARD", "DTSTART:19700101T000000",
                   "TZNAME:JST", "TZOFFSETFROM:+0900", "TZOFFSETTO:+0900", "END:STANDARD", "END:VTIMEZONE")
_CALENDAR_END = ("\r\n" + "\r\n".join([*TOKYO_VTIMEZONE, "END:VCALENDAR"]) + "\r\n").encode()


@dataclass(frozen=True)
class CalendarEntry:
    """What a person's calendar shows for one place on one session (all meetings of it)."""

    meetings: tuple[tuple[int, datetime, datetime], ...]  # (meeting id, starts, ends), in order
    sequence: int
    title: str  # Japanese: calendars are shared across the office
    course_code: str
    label: str
    location: str
    online_url: str
    session_cancelled: bool
    enrolment_state: EnrolmentState


def meeting_uid(meeting_id: int, domain: str) -> str:
    return f"manabi-meeting-{meeting_id}@{domain}"


def entry_for(enrolment: Enrolment) -> CalendarEntry:
    training_session = enrolment.training_session
    return CalendarEntry(
        meetings=tuple((m.id, m.starts_at, m.ends_at) for m in training_session.meetings),
        sequence=training_session.sequence,
        title=enrolment.course.title_ja, course_code=enrolment.course.code, label=training_session.label,
        location=training_session.location, online_url=training_session.online_url or "",
        session_cancelled=training_session.status == SessionStatus.CANCELLED, enrolment_state=enrolment.state)


def build_calendar(enrolments: Iterable[Enrolment], *, domain: str, name: str, base_url: str) -> bytes:
    return calendar_bytes((entry_for(e) for e in enrolments), domain=domain, name=name, base_url=base_url)


def calendar_bytes(entries: Iterable[CalendarEntry], *, domain: str, name: str, base_url: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{_text(name)}", "X-WR-TIMEZONE:Asia/Tokyo"]
    stamp = _utc(now())
    for entry in entries:
        cancelled = entry.session_cancelled or entry.enrolment_state in (EnrolmentState.CANCELLED,
                                                                         EnrolmentState.DECLINED)
        tentative = entry.enrolment_state in (EnrolmentState.PENDING, EnrolmentState.WAITLISTED)
        # A person's own cancellation also raises the sequence, so the calendar accepts it.
        sequence = entry.sequence + (1 if cancelled and not entry.session_cancelled else 0)
        description = [entry.title, entry.label] if entry.label else [entry.title]
        if entry.online_url:
            description.append(entry.online_url)
        description.append(f"{base_url}/catalog/courses/{entry.course_code}")
        for index, (meeting_id, starts_at, ends_at) in enumerate(entry.meetings, start=1):
            suffix = f" ({index}/{len(entry.meetings)})" if len(entry.meetings) > 1 else ""
            lines += ["BEGIN:VEVENT", f"SUMMARY:{_text(entry.title + suffix)}",
                      f"DTSTART;TZID=Asia/Tokyo:{_local(starts_at)}", f"DTEND;TZID=Asia/Tokyo:{_local(ends_at)}",
                      f"DTSTAMP:{stamp}", f"UID:{meeting_uid(meeting_id, domain)}", f"SEQUENCE:{sequence}",
                      f"STATUS:{'CANCELLED' if cancelled else ('TENTATIVE' if tentative else 'CONFIRMED')}"]
            if entry.location:
                lines.append(f"LOCATION:{_text(entry.location)}")
            if entry.online_url:
                lines.append(f"URL:{entry.online_url}")
            lines += [f"DESCRIPTION:{_text(chr(10).join(description))}",
                      f"TRANSP:{'TRANSPARENT' if cancelled else 'OPAQUE'}", "END:VEVENT"]
    return b"\r\n".join([_fold(line) for line in lines]) + _CALENDAR_END


def _text(value: str) -> str:
    """RFC 5545 TEXT escaping."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _local(instant: datetime) -> str:
    return instant.astimezone(TOKYO).strftime("%Y%m%dT%H%M%S")


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> bytes:
    """Fold at 75 octets without splitting a UTF-8 character (RFC 5545 §3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return data
    parts, start, limit = [], 0, 75
    while len(data) - start > limit:
        cut = start + limit
        while data[cut] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            cut -= 1
        parts.append(data[start:cut])
        start, limit = cut, 74  # continuation lines begin with a space
    parts.append(data[start:])
    return b"\r\n ".join(parts)
