"""iCalendar files: one per enrolment and one private feed per person, written by the icalendar
package.

Every meeting is a VEVENT whose UID never changes; SEQUENCE rises when the session moves, and a
cancelled session (or a cancelled place) is sent as STATUS:CANCELLED so calendars update in place.
Times are local to Asia/Tokyo (DTSTART;TZID=Asia/Tokyo), with the zone's VTIMEZONE, made once
from the zone database by icalendar.

Text from people (course titles, labels, rooms) goes in as TEXT values, which icalendar escapes
(backslash, ";", ",", line breaks as \\n) and folds at 75 octets without splitting a character;
a web meeting link that is not one line (the form refuses it anyway) is left out of URL rather
than written raw.

The reminder sweep attaches a file to each confirmation; it builds each distinct file once per
sweep (app/reminders/facts.py, CalendarCache: keyed by everything the file says, so by meetings,
sequence and status), so icalendar's cost (~0.6 ms of CPU for a file of one meeting,
bench/mail_compose.py, where the hand-written text took ~20 µs) is paid per session, not per
message.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from icalendar import Calendar, Event, Timezone, vText

from app.core.clock import TOKYO, now
from app.core.text_safety import find_unsafe
from app.enrollment.models import Enrolment, EnrolmentState
from app.scheduling.models import SessionStatus

PRODID = "-//Manabi//Staff training//JA"


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
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", vText(name))
    calendar.add("x-wr-timezone", vText("Asia/Tokyo"))
    calendar.add_component(_tokyo_timezone())
    stamp = now()
    for entry in entries:
        for event in _events(entry, domain, base_url, stamp):
            calendar.add_component(event)
    return calendar.to_ical()


def _events(entry: CalendarEntry, domain: str, base_url: str, stamp: datetime) -> Iterable[Event]:
    cancelled = entry.session_cancelled or entry.enrolment_state in (EnrolmentState.CANCELLED,
                                                                     EnrolmentState.DECLINED)
    tentative = entry.enrolment_state in (EnrolmentState.PENDING, EnrolmentState.WAITLISTED)
    # A person's own cancellation also raises the sequence, so the calendar accepts it.
    sequence = entry.sequence + (1 if cancelled and not entry.session_cancelled else 0)
    description = [entry.title, entry.label] if entry.label else [entry.title]
    if entry.online_url:
        description.append(entry.online_url)
    description.append(f"{base_url}/catalog/courses/{entry.course_code}")
    url = entry.online_url if entry.online_url and find_unsafe(entry.online_url) is None else ""
    for index, (meeting_id, starts_at, ends_at) in enumerate(entry.meetings, start=1):
        suffix = f" ({index}/{len(entry.meetings)})" if len(entry.meetings) > 1 else ""
        event = Event()
        event.add("summary", entry.title + suffix)
        event.add("dtstart", starts_at.astimezone(TOKYO))
        event.add("dtend", ends_at.astimezone(TOKYO))
        event.add("dtstamp", stamp)
        event.add("uid", meeting_uid(meeting_id, domain))
        event.add("sequence", sequence)
        event.add("status", "CANCELLED" if cancelled else ("TENTATIVE" if tentative else "CONFIRMED"))
        if entry.location:
            event.add("location", entry.location)
        if url:
            event.add("url", url)
        event.add("description", "\n".join(description))
        event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
        yield event


@lru_cache(maxsize=1)
def _tokyo_timezone() -> Timezone:
    """Asia/Tokyo's VTIMEZONE from the zone database (one STANDARD block: +09:00 without daylight
    saving since 1951), made once: icalendar takes milliseconds to make it. The component is only
    read when a calendar is written, so every calendar can hold the same one."""
    return Timezone.from_tzinfo(TOKYO, "Asia/Tokyo")
