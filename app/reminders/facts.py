"""Everything a batch of notifications is checked and rendered from, read in a handful of
statements (not a few per message): people, places with their sessions and courses, meetings for
calendar files, assignments, the wording HR changed, switched-off kinds and opt-outs.

The sweep renders thousands of messages a second from these plain rows; the in-app view of one
notification builds the same facts for a batch of one, so both say exactly the same thing.

A batch's facts can age while it is sent (a session moved or cancelled, a place cancelled). So
just before each message goes, the sweep reads its `Standing` (app/reminders/delivery.py): its
claim, its place's state and its session's sequence and status. If the place is no longer what
the facts say, `Facts.reload` reads that session's places again and the message is checked and
rendered anew.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import select

from app.catalog.models import Course
from app.core.db import db_session, rows_among
from app.enrollment.calendar import CalendarEntry, calendar_bytes
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.enrollment.queries import positions
from app.org.models import Employee
from app.reminders.assignment_facts import assignment_facts_many
from app.reminders.expiry_facts import expiry_facts_many
from app.reminders.kinds import KINDS, built_in_wording
from app.reminders.models import KindSetting, MessageTemplate, OptOut
from app.scheduling.models import Meeting, SessionStatus, TrainingSession
from app.web.external_urls import base_url


class Letter(Protocol):
    """The parts of a notification row that rendering reads (a Notification, or a ClaimedLetter)."""

    id: int
    kind: str
    recipient_id: int
    context: dict[str, Any]


@dataclass(slots=True)
class ClaimedLetter:
    """A claimed row as the sweep reads it: plain attributes, read a dozen times per message."""

    id: int
    kind: str
    recipient_id: int
    context: dict[str, Any]
    due_at: datetime


@dataclass(slots=True)
class Person:
    id: int
    name: str
    email: str
    locale: str  # "ja" or "en"
    is_active: bool


@dataclass(slots=True)
class Place:
    """An enrolment with its session and course."""

    id: int
    state: EnrolmentState
    approval_stage: ApprovalStage
    approver_id: int | None  # the head to decide it at the manager's stage (a transfer hands it on)
    employee_id: int
    session_id: int
    course_code: str
    title_ja: str
    title_en: str
    starts_at: datetime
    session_status: SessionStatus
    sequence: int
    label: str
    location: str
    online_url: str

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title_ja


@dataclass(slots=True)  # not frozen: built once per message, and frozen ones cost ~5x to build
class Standing:
    """A claimed message and its place as the database has them now, read just before it goes.
    The session's `sequence` rises with every move and with a cancellation, so an unchanged
    sequence and status mean an unchanged time and place."""

    status: str | None  # of the notification
    claimed_by: str | None
    is_sent: bool  # its sent mark is written (by whoever sent it)
    enrolment_state: str | None  # None: no place (or none any more)
    approval_stage: str | None
    approver_id: int | None
    sequence: int | None
    session_status: str | None

    def claimed_by_worker(self, worker: str) -> bool:
        """Still this worker's to send: not taken back after its heartbeat lapsed, nor sent by
        the one it was taken from."""
        return self.status == "sending" and self.claimed_by == worker and not self.is_sent

    def matches(self, place: Place | None) -> bool:
        """The place is as the batch's facts say (StrEnum members equal their values)."""
        if place is None:
            return self.enrolment_state is None
        return (self.enrolment_state, self.approval_stage, self.approver_id, self.sequence,
                self.session_status) == (place.state, place.approval_stage, place.approver_id, place.sequence,
                                         place.session_status)


class CalendarCache:
    """The .ics files built during one sweep. Everyone on a session gets the same file (the UIDs
    are the meetings'), and a sweep sends many messages about each session, so each file is built
    once per sweep. The key is everything the file says, so a changed session gets a new file."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._files: dict[CalendarEntry, bytes] = {}

    def get(self, entry: CalendarEntry, *, domain: str, name: str, base_url: str) -> bytes:
        found = self._files.get(entry)
        if found is None:
            if len(self._files) >= self.LIMIT:
                self._files.clear()
            found = self._files[entry] = calendar_bytes([entry], domain=domain, name=name, base_url=base_url)
        return found


class Facts:
    def __init__(self, letters: Sequence[Letter], calendars: CalendarCache | None = None) -> None:
        config = current_app.config
        self.base_url: str = base_url()  # BASE_URL: links never follow a request's Host header
        self.calendar_domain: str = config["CALENDAR_UID_DOMAIN"]
        self.mail_sender: str = config["MAIL_SENDER"]
        recipients = {letter.recipient_id for letter in letters}
        self.places = _places({int(i) for letter in letters if (i := letter.context.get("enrolment_id"))})
        self.people = _people(recipients | {place.employee_id for place in self.places.values()})
        self.disabled_kinds = set(db_session.scalars(select(KindSetting.kind).where(KindSetting.is_enabled.is_(False))))
        self.opted_out = {(row.employee_id, row.kind) for row in rows_among(
            select(OptOut.employee_id, OptOut.kind), OptOut.employee_id, recipients)}
        self.templates = {(row.kind, row.locale): (row.subject, row.body) for row in db_session.execute(
            select(MessageTemplate.kind, MessageTemplate.locale, MessageTemplate.subject, MessageTemplate.body))}
        with_calendar = {self.places[int(letter.context["enrolment_id"])].session_id for letter in letters
                         if KINDS[letter.kind].attach_ics
                         and int(letter.context.get("enrolment_id") or 0) in self.places}
        self.meetings = _meetings(with_calendar)
        self.assignments = assignment_facts_many(
            {int(i) for letter in letters if (i := letter.context.get("assignment_id"))}
            | {int(i) for letter in letters for i in letter.context.get("assignment_ids") or ()})
        self.expiring = expiry_facts_many(
            {int(i) for letter in letters if (i := letter.context.get("completion_id"))})
        self._positions: dict[int, dict[int, int]] = {}
        self._calendars = calendars or CalendarCache()

    def reload(self, enrolment_id: int) -> None:
        """Read again, as they are now, this place and every place of the batch on the same
        session (moved, cancelled, or the place itself changed since the batch was read)."""
        before = self.places.get(enrolment_id)
        ids = {enrolment_id} | ({i for i, place in self.places.items() if place.session_id == before.session_id}
                                if before is not None else set())
        fresh = _places(ids)
        for i in ids:
            if i in fresh:
                self.places[i] = fresh[i]
            else:
                self.places.pop(i, None)
        sessions = {place.session_id for place in fresh.values()}
        if before is not None:
            sessions.add(before.session_id)
        for session_id in sessions:
            self._positions.pop(session_id, None)
            self.meetings.pop(session_id, None)
        self.meetings.update(_meetings(sessions))

    def place(self, letter: Letter) -> Place | None:
        enrolment_id = letter.context.get("enrolment_id")
        return self.places.get(int(enrolment_id)) if enrolment_id else None

    def template(self, kind: str, locale: str) -> tuple[str, str]:
        return self.templates.get((kind, locale)) or built_in_wording(kind, locale)

    def calendar(self, place: Place) -> bytes:
        """The .ics of a place, built once per sweep (see CalendarCache)."""
        entry = CalendarEntry(self.meetings[place.session_id], place.sequence, place.title_ja, place.course_code,
                              place.label, place.location, place.online_url,
                              place.session_status == SessionStatus.CANCELLED, place.state)
        return self._calendars.get(entry, domain=self.calendar_domain, name=place.title_ja, base_url=self.base_url)

    def waitlist_position(self, place: Place) -> int | str:
        if place.session_id not in self._positions:
            self._positions[place.session_id] = positions(place.session_id)
        return self._positions[place.session_id].get(place.id, "-")


def _people(ids: set[int]) -> dict[int, Person]:
    statement = select(Employee.id, Employee.name, Employee.email, Employee.locale, Employee.is_active)
    return {id_: Person(id_, name, email, locale if locale in ("ja", "en") else "ja", is_active)
            for id_, name, email, locale, is_active in rows_among(statement, Employee.id, ids)}


def _places(ids: set[int]) -> dict[int, Place]:
    statement = (select(Enrolment.id, Enrolment.state, Enrolment.approval_stage, Enrolment.approver_id,
                        Enrolment.employee_id,
                        Enrolment.session_id, Course.code, Course.title_ja, Course.title_en, TrainingSession.starts_at,
                        TrainingSession.status, TrainingSession.sequence, TrainingSession.label,
                        TrainingSession.location, TrainingSession.online_url)
                 .join(TrainingSession, TrainingSession.id == Enrolment.session_id)
                 .join(Course, Course.id == Enrolment.course_id))
    return {row[0]: Place(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8] or "", row[9],
                          row[10], row[11], row[12] or "", row[13] or "", row[14] or "")
            for row in rows_among(statement, Enrolment.id, ids)}  # by position: ~5x cheaper than by name


def _meetings(session_ids: set[int]) -> dict[int, tuple[tuple[int, datetime, datetime], ...]]:
    found: dict[int, list[tuple[int, datetime, datetime]]] = defaultdict(list)
    statement = select(Meeting.session_id, Meeting.id, Meeting.starts_at, Meeting.ends_at).order_by(
        Meeting.session_id, Meeting.starts_at, Meeting.id)
    for session_id, meeting_id, starts_at, ends_at in rows_among(statement, Meeting.session_id, session_ids):
        found[session_id].append((meeting_id, starts_at, ends_at))
    return {session_id: tuple(meetings) for session_id, meetings in found.items()}
