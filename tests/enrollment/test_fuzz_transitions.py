"""Concurrency fuzz of the enrolment state machine through the real web stack (issue 13), on SQLite
and PostgreSQL alike (MANABI_TEST_BACKEND).

Many signed-in browsers (staff, their managers and the director above them, HR) act at the same
moment, round after round: enrol (also on someone's behalf, also triple clicks), cancel (triple
clicks too, by the person, a manager or HR), approve / decline (two managers at once, while the
employee withdraws the request), HR capacity edits (two at once on one session), bulk enrolment,
giving a seat by hand, cancelling a whole session (twice at once) and plain page views. Bulk
enrolment and cancelling a session confirm a preview opened before the round (issue 18): when the
round changed what the preview showed, the confirm applies nothing and says so (409). The
actions are drawn from a seeded `random.Random` (not Hypothesis: a shrunk sequence would not
replay the same interleaving); what happens first within a round is up to the server, so the
test asserts only what must hold whatever the interleaving, after every round, reading the
database directly:

- per session: seat holders <= capacity; the counter equals the holders; the waitlist positions
  are 1..n in arrival order; no seat is free while someone waits, and no one who waits arrived
  before a seat holder (first come, first served); a cancelled session has no live enrolment;
- at most one live enrolment per person and course;
- every enrolment's history is a chain (first from nothing, each from = the previous to, the last
  to = its state), never leaves an ended state and gives a seat at most once: every transition
  is recorded exactly once;
- every request answers as designed (redirect, or the page it renders): never a 5xx, never a 403
  to someone entitled to act, no exception in the server; the next page tells the user what
  happened, in their language (Japanese here), also when another request won the race, and never
  "you may not" to someone who may (every action here is one its actor is entitled to);
- one effect per action however often it is clicked: each click of a triple click is read on its
  own (one tab each, all with the cookies the browser sent), and at most one of them succeeds;
- what an enrolling person is told matches what was recorded, and a waitlist number told is one
  the person really had during the round.

`test_burst_of_enrolments_tells_each_person_their_place` checks "each person is told their true
position" exactly: people enrol into the same sessions at once, nobody cancels meanwhile, and
every number told is distinct and equals the person's place right after the burst. At the end of
the fuzz every person's My learning shows the places the database holds.

The rounds are bounded (ROUNDS) so the module stays well under a minute per backend.
"""
from __future__ import annotations

import html
import http.client
import itertools
import os
import random
import re
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask_babel import force_locale, gettext
from sqlalchemy import select

from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.enrollment import queries
from app.enrollment.models import ACTIVE_STATES, ApprovalStage, Enrolment, EnrolmentEvent, EnrolmentState
from app.org.models import RoleName
from app.scheduling.models import ApprovalPolicy, SessionStatus, TrainingSession
from tests import factories
from tests.confirming import confirm_forms
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, Response, release_together, serve_in_thread

# Another seed or more rounds explore other interleavings: MANABI_FUZZ_SEED=7 MANABI_FUZZ_ROUNDS=40.
SEED = int(os.environ.get("MANABI_FUZZ_SEED", "20261130"))
ROUNDS = int(os.environ.get("MANABI_FUZZ_ROUNDS", "10"))
UNITS = 4
STAFF_PER_UNIT = 9
HR_PEOPLE = 6
REDIRECTS = (302, 303)
ENDED = {EnrolmentState.CANCELLED.value, EnrolmentState.DECLINED.value}
_ENGLISH = re.compile(r"\b[A-Za-z]{3,}\s+[A-Za-z]{2,}\b")  # two English words in a row
_FLASH = re.compile(r'<p class="flash flash--(\w+)"[^>]*>(.*?)</p>', re.S)


# --- the live site -------------------------------------------------------------------------------


@dataclass(eq=False)
class Person:
    id: int
    number: str
    name: str
    label: str
    unit: int | None  # index of the unit they work in (staff) or head (managers); None for HR
    client: HttpClient
    token: str = ""


@dataclass
class FuzzSite:
    app: Flask
    errors: list[BaseException]
    staff: list[Person]
    managers: list[Person]  # managers[i] heads unit i
    director: Person  # heads the department above all the units: a second manager of everyone
    hr: list[Person]
    fuzz_sessions: list[int]
    cancelled_in_round: dict[int, int]  # round -> session id cancelled (by two HR at once) in it
    burst_open: int  # capacity 3, no approval: a burst fills it and the waitlist
    burst_manager: int  # capacity 2, manager approval: seats kept while pending, then waitlist places
    told: dict[str, str] = field(default_factory=dict)  # the Japanese texts the test looks for


def _tokyo_ten_oclock_in(days: int) -> timedelta:
    """`starts_in` for the factory so that the session starts at 10:00 in Tokyo, `days` ahead
    (its meetings never cross midnight, so the edit form's "13:00-16:00" lines re-parse as-is)."""
    current = now().replace(second=0, microsecond=0)
    day = (current.astimezone(TOKYO) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=TOKYO) - current


def _texts(application: Flask) -> dict[str, str]:
    """The Japanese messages the test recognises, from the app's own catalogue (N marks a number)."""
    with application.test_request_context(), force_locale("ja"):
        return {
            "confirmed": gettext("Enrolled: your place is confirmed."),
            "waitlisted": gettext("The session is full: you are on the waitlist (number %(n)s).", n="N"),
            "kept": gettext("Requested: a seat is kept for you while your manager decides."),
            "pending_waiting": gettext(
                "Requested: you keep your waitlist place (number %(n)s) while your manager decides.", n="N"),
            "badge_waitlisted": gettext("Waitlist no. %(n)s", n="N"),
            "badge_pending": gettext("waitlist no. %(n)s", n="N"),
            "capacity_below": gettext("%(taken)s seats are already taken; capacity cannot go below that.", taken="N"),
            "capacity_meanwhile": gettext("Seats were taken meanwhile; reload and try again."),
            "session_cancelled": gettext("This session has been cancelled."),
            "session_cancelled_done": gettext("Session cancelled. Everyone enrolled is told."),
            "stale": gettext("The data changed after the preview, so nothing was changed. Check the new preview "
                             "below and confirm again if it is still what you want."),
            "cancelled_done": gettext("Cancelled. The seat goes to the next person waiting."),
            "approved_n": gettext("%(n)s request(s) approved.", n="N"),
            "declined_n": gettext("%(n)s request(s) declined.", n="N"),
            # what only someone who may not act should hear: never said to the people acting here
            "refusal_approve": gettext("You cannot approve this request."),
            "refusal_decline": gettext("You cannot decline this request."),
            "refusal_deadline": gettext("The cancellation deadline has passed. Please contact the training staff."),
        }


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(re.escape(text).replace("N", r"(\d+)"))


@pytest.fixture(scope="module")
def fuzz_site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzSite]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("fuzz-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        department = factories.unit("同時操作検証部")
        director = factories.employee(department, "BUCHO", heads=department)
        units = [factories.unit(f"同時操作検証課{i + 1}", parent=department) for i in range(UNITS)]
        managers = [(factories.employee(u, "KACHO", heads=u), i) for i, u in enumerate(units)]
        staff = [(factories.employee(u, "SHUNIN"), i) for i, u in enumerate(units) for _ in range(STAFF_PER_UNIT)]
        hr_unit = factories.unit("人事課（検証）")
        hr = [(factories.employee(hr_unit, "SHUSA", roles=(RoleName.HR,)), None) for _ in range(HR_PEOPLE)]

        def session(title: str, capacity: int, policy: str, day: int) -> int:
            return factories.training_session(factories.course(title_ja=title), capacity=capacity, policy=policy,
                                              starts_in=_tokyo_ten_oclock_in(day)).id

        burst_open = session("一斉申込の研修", 3, "none", 20)
        burst_manager = session("一斉申請の研修", 2, "manager", 21)
        shared = factories.course(title_ja="二日程の研修")  # two sessions of one course
        fuzz = [
            factories.training_session(shared, capacity=3, policy="manager", starts_in=_tokyo_ten_oclock_in(22)).id,
            factories.training_session(shared, capacity=2, policy="none", starts_in=_tokyo_ten_oclock_in(23)).id,
            session("承認二段階の研修", 3, "manager_then_hr", 24),
            session("少人数の研修", 2, "none", 25),
            session("中止になる研修", 3, "none", 26),
        ]
        # a second session of the fourth course, cancelled mid-run; its people may then take the other
        fuzz.append(factories.training_session(db_session.get(TrainingSession, fuzz[3]).course, capacity=3,
                                               policy="manager", starts_in=_tokyo_ten_oclock_in(27)).id)
        people = [(p.id, p.employee_number, p.name, i) for p, i in managers + staff + hr + [(director, None)]]
        db_session.commit()

    with serve_in_thread(application, "fuzz-live-server") as (port, errors):
        def sign_in(entry: tuple[int, str, str, int | None]) -> Person:
            person_id, number, name, unit = entry
            client = HttpClient("127.0.0.1", port).sign_in(number)
            return Person(person_id, number, name, "", unit, client, client.csrf_token("/my-learning"))

        with ThreadPoolExecutor(max_workers=8) as pool:
            signed_in = list(pool.map(sign_in, people))
        manager_people = signed_in[:UNITS]
        staff_people = signed_in[UNITS:UNITS + len(staff)]
        hr_people = signed_in[UNITS + len(staff):-1]
        director_person = signed_in[-1]
        director_person.label = f"director {director_person.number} (heads the department)"
        for index, person in enumerate(manager_people):
            person.label = f"manager {person.number} (heads unit {index})"
        for person in staff_people:
            person.label = f"staff {person.number} (unit {person.unit})"
        for index, person in enumerate(hr_people):
            person.label = f"HR{index} {person.number}"
        yield FuzzSite(app=application, errors=errors, staff=staff_people, managers=manager_people,
                       director=director_person, hr=hr_people,
                       fuzz_sessions=fuzz, cancelled_in_round={ROUNDS // 3: fuzz[4], 2 * ROUNDS // 3: fuzz[5]},
                       burst_open=burst_open, burst_manager=burst_manager, told=_texts(application))


# --- reading pages ---------------------------------------------------------------------------------


def _flashes(page: str) -> list[tuple[str, str]]:
    return [(category, html.unescape(re.sub(r"<[^>]+>", "", text)).strip()) for category, text in _FLASH.findall(page)]


def _path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _PostForms(HTMLParser):
    """The fields of each POST form of a page, as a browser would submit them unchanged."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self.fields: list[tuple[str, str]] = []
        self._state = "outside"  # outside, inside
        self._textarea: str | None = None
        self._select: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post":
            self._state, self.fields = "inside", []
            self.forms.append(self.fields)
        if self._state != "inside":
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("type") not in ("submit", "button"):
                self.fields.append((a["name"], a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._state != "inside":
            return
        if tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text).lstrip("\r\n")))
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._state = "outside"


def _form_with(page: str, name: str) -> list[tuple[str, str]]:
    """The fields of the page's POST form that has a field `name`."""
    parser = _PostForms()
    parser.feed(page)
    return next((form for form in parser.forms if any(key == name for key, _value in form)), [])


def _english(text: str) -> bool:
    return bool(_ENGLISH.search(text))


# --- actions ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Action:
    kind: str
    who: Person
    path: str
    data: list[tuple[str, str]] | None  # None: a GET
    clicks: int = 1
    expect: tuple[int, ...] = REDIRECTS
    session_id: int | None = None
    enrolment_ids: tuple[int, ...] = ()
    subject: Person | None = None  # whose enrolment (enrol on behalf, cancel by manager / HR)
    decisions_left: dict[int, int] = field(default_factory=dict)  # approve/decline: stages each request has left
    note: str = ""
    tabs: list[HttpClient] = field(default_factory=list)  # one per click: the browser's cookies as sent
    responses: list[Response | BaseException] = field(default_factory=list)  # one per click
    told: list[list[tuple[str, str]]] = field(default_factory=list)  # per click: (category, message)

    @property
    def flashes(self) -> list[tuple[str, str]]:
        return [flash for click in self.told for flash in click]

    def describe(self) -> str:
        method = "GET" if self.data is None else "POST"
        fields = "" if self.data is None else " " + " ".join(
            f"{k}={v!r}" for k, v in self.data if k not in ("csrf_token", "meetings", "notes", "label", "location",
                                                             "online_url", "instructors"))
        answers = [f"{r.status if isinstance(r, Response) else repr(r)}"
                   f"{' ' + str([text for _c, text in told]) if told else ''}"
                   for r, told in zip(self.responses, self.told or [[]] * len(self.responses), strict=False)]
        return (f"{self.kind} by {self.who.label}: {method} {self.path}{fields} x{self.clicks}"
                f"{' (' + self.note + ')' if self.note else ''} -> {answers}")


@dataclass
class Snapshot:
    sessions: dict[int, TrainingSession]
    live: list[Enrolment]
    ended: list[Enrolment]
    max_enrolment_id: int


def _snapshot(site: FuzzSite) -> Snapshot:
    with site.app.app_context():
        sessions = {s.id: s for s in db_session.scalars(select(TrainingSession).where(
            TrainingSession.id.in_(site.fuzz_sessions)))}
        rows = list(db_session.scalars(select(Enrolment).where(Enrolment.session_id.in_(site.fuzz_sessions))
                                       .order_by(Enrolment.id)))
        top = db_session.scalar(select(Enrolment.id).order_by(Enrolment.id.desc()).limit(1)) or 0
        db_session.expunge_all()
    return Snapshot(sessions, [e for e in rows if e.state in ACTIVE_STATES],
                    [e for e in rows if e.state not in ACTIVE_STATES], top)


class Planner:
    """Draws one round of simultaneous actions; every browser acts at most once per round."""

    def __init__(self, site: FuzzSite, rng: random.Random, snapshot: Snapshot, round_number: int) -> None:
        self.site, self.rng, self.snap, self.round = site, rng, snapshot, round_number
        self.busy: set[int] = set()
        self.actions: list[Action] = []
        self.by_id = {p.id: p for p in site.staff + site.managers + site.hr + [site.director]}
        due = [session_id for due_round, session_id in sorted(site.cancelled_in_round.items())
               if due_round <= round_number and snapshot.sessions[session_id].status == SessionStatus.SCHEDULED]
        self.focus = due[0] if due else None  # from its round on, until a cancellation is confirmed in time
        scheduled = [s for s in site.fuzz_sessions if snapshot.sessions[s].status == SessionStatus.SCHEDULED]
        self.hot = self.focus or rng.choice(scheduled or site.fuzz_sessions)  # where most of a round happens

    def free(self, people: list[Person]) -> list[Person]:
        return [p for p in people if p.id not in self.busy]

    def take(self, person: Person) -> Person:
        self.busy.add(person.id)
        return person

    def add(self, action: Action) -> None:
        self.take(action.who)
        self.actions.append(action)

    def pick_session(self, scheduled_only: bool = False) -> int:
        if self.rng.random() < 0.5:
            return self.hot
        choices = [s for s in self.site.fuzz_sessions
                   if not scheduled_only or self.snap.sessions[s].status == SessionStatus.SCHEDULED]
        return self.rng.choice(choices or self.site.fuzz_sessions)

    def manages(self, actor: Person, person: Person) -> bool:
        return actor is self.site.director or actor.unit == person.unit

    def live_of(self, person_id: int) -> list[Enrolment]:
        return [e for e in self.snap.live if e.employee_id == person_id]

    # each returns False when it found nothing to do

    def enrol(self) -> bool:
        people = self.free(self.site.staff)
        if not people:
            return False
        person = self.rng.choice(people)
        session_id = self.pick_session()
        if self.rng.random() < 0.7:  # mostly into a course they have no place in yet
            taken = {e.course_id for e in self.live_of(person.id)}
            open_ = [s for s in self.site.fuzz_sessions if self.snap.sessions[s].course_id not in taken]
            if open_ and self.snap.sessions[session_id].course_id in taken:
                session_id = self.rng.choice(open_)
        clicks = 3 if self.rng.random() < 0.3 else 1
        self.add(Action("enrol", person, f"/sessions/{session_id}/enrol", [("csrf_token", person.token)],
                        clicks=clicks, session_id=session_id, subject=person))
        return True

    def enrol_on_behalf(self) -> bool:
        by_hr = self.rng.random() < 0.4
        actors = self.free(self.site.hr if by_hr else [*self.site.managers, self.site.director])
        if not actors:
            return False
        actor = self.rng.choice(actors)
        subjects = [p for p in self.site.staff if by_hr or self.manages(actor, p)]
        subject = self.rng.choice(subjects)
        session_id = self.pick_session()
        self.add(Action("enrol on behalf", actor, f"/sessions/{session_id}/enrol",
                        [("csrf_token", actor.token), ("employee_number", subject.number)],
                        clicks=3 if self.rng.random() < 0.2 else 1, session_id=session_id, subject=subject,
                        note=f"for {subject.number}"))
        return True

    def cancel(self) -> bool:
        pool = self.snap.live if self.snap.live and self.rng.random() < 0.9 else self.snap.ended
        if self.rng.random() < 0.5:
            pool = [e for e in pool if e.session_id == self.hot] or pool
        if not pool:
            return False
        enrolment = self.rng.choice(pool)
        owner = self.by_id[enrolment.employee_id]
        roll = self.rng.random()
        if roll < 0.7:
            actor = owner if owner.id not in self.busy else None
        elif roll < 0.85:
            actor = self.rng.choice([self.site.managers[owner.unit], self.site.director])
            actor = actor if actor.id not in self.busy else None
        else:
            actor = next(iter(self.free(self.site.hr)), None)
        if actor is None:
            return False
        self.add(Action("cancel", actor, f"/enrolments/{enrolment.id}/cancel",
                        [("csrf_token", actor.token), ("reason", "業務都合のため")],
                        clicks=3 if self.rng.random() < 0.4 else 1, session_id=enrolment.session_id,
                        enrolment_ids=(enrolment.id,), subject=owner,
                        note=f"{enrolment.state.value}{' with seat' if enrolment.holds_seat else ''}"))
        return True

    def decide(self, by_hr: bool = False) -> bool:
        actors = self.free(self.site.hr if by_hr else [*self.site.managers, self.site.director])
        if not actors:
            return False
        actor = self.rng.choice(actors)
        pending = [e for e in self.snap.live if e.state == EnrolmentState.PENDING and (
            (by_hr and e.approval_stage in (ApprovalStage.MANAGER, ApprovalStage.HR))
            or (not by_hr and e.approval_stage == ApprovalStage.MANAGER
                and self.manages(actor, self.by_id[e.employee_id])))]
        if not pending:
            return False
        chosen = self.rng.sample(pending, k=min(len(pending), self.rng.randint(1, 3)))
        action = "approve" if self.rng.random() < 0.65 else "decline"
        data = [("csrf_token", actor.token), ("action", action),
                ("reason", "業務繁忙のため" if action == "decline" else "")]
        data += [("enrolment_id", str(e.id)) for e in chosen]
        if len(chosen) == 1 and self.rng.random() < 0.3:  # the form on the request's own page
            data.append(("next", f"/enrolments/{chosen[0].id}"))
        two_stages = {e.id for e in chosen if e.approval_stage == ApprovalStage.MANAGER
                      and self.snap.sessions[e.session_id].approval_policy == ApprovalPolicy.MANAGER_THEN_HR}
        self.add(Action(action, actor, "/approvals", data, clicks=3 if self.rng.random() < 0.35 else 1,
                        enrolment_ids=tuple(e.id for e in chosen), note=f"{len(chosen)} request(s)",
                        decisions_left={e.id: 2 if e.id in two_stages else 1 for e in chosen}))
        for enrolment in chosen:  # the employee withdraws at the same moment
            owner = self.by_id[enrolment.employee_id]
            if owner.id not in self.busy and self.rng.random() < 0.5:
                self.add(Action("cancel", owner, f"/enrolments/{enrolment.id}/cancel",
                                [("csrf_token", owner.token), ("reason", "")],
                                clicks=3 if self.rng.random() < 0.3 else 1, session_id=enrolment.session_id,
                                enrolment_ids=(enrolment.id,), subject=owner, note="withdraws while decided"))
        return True

    def edit_capacity(self) -> bool:
        editors = self.free(self.site.hr)
        if not editors:
            return False
        session_id = self.pick_session(scheduled_only=True)
        session = self.snap.sessions[session_id]
        if session.status != SessionStatus.SCHEDULED:
            return False
        count = 2 if len(editors) > 1 and self.rng.random() < 0.35 else 1
        for editor in self.rng.sample(editors, k=count):
            capacity = self.rng.randint(max(1, session.capacity - 2), session.capacity + 2)
            page = editor.client.get(f"/sessions/{session_id}/edit")
            assert page.status == 200, (page.status, page.text[:300])
            fields = [(k, str(capacity) if k == "capacity" else v) for k, v in _form_with(page.text, "capacity")]
            assert ("capacity", str(capacity)) in fields and any(k == "meetings" for k, _ in fields), fields
            self.add(Action("capacity", editor, f"/sessions/{session_id}/edit", fields,
                            expect=(*REDIRECTS, 400), session_id=session_id,
                            note=f"{session.capacity} -> {capacity} (taken {session.seats_taken})"))
        return True

    def bulk(self) -> bool:
        actors = self.free(self.site.hr)
        if not actors:
            return False
        actor = self.rng.choice(actors)
        session_id = self.pick_session()
        numbers = [p.number for p in self.rng.sample(self.site.staff, k=self.rng.randint(2, 6))]
        if self.rng.random() < 0.3:
            numbers.append("X99999")  # nobody: reported, the others go through
        path = f"/sessions/{session_id}/enrol-many"
        confirm = _previewed(actor, path, [("csrf_token", actor.token), ("grade", ""), ("unit", ""),
                                           ("numbers", "\n".join(numbers))]
                             + ([("override_rules", "y")] if self.rng.random() < 0.5 else []))
        if confirm is None:  # nobody of these could join: the preview has nothing to confirm
            return False
        # HR saw the preview before the round; the round may change the session before the confirm
        # lands (then nothing is applied and the new preview says so: 409)
        self.add(Action("bulk", actor, path, confirm, expect=(200, 409), session_id=session_id,
                        note=",".join(numbers)))
        return True

    def promote(self) -> bool:
        actors = self.free(self.site.hr)
        waiting = [e for e in self.snap.live if not e.holds_seat]
        if not actors or not waiting:
            return False
        enrolment = self.rng.choice(waiting)
        actor = self.rng.choice(actors)
        self.add(Action("promote", actor, f"/enrolments/{enrolment.id}/promote", [("csrf_token", actor.token)],
                        session_id=enrolment.session_id, enrolment_ids=(enrolment.id,)))
        return True

    def look(self) -> bool:
        everyone = self.free(self.site.staff + self.site.managers + self.site.hr + [self.site.director])
        if not everyone:
            return False
        person = self.rng.choice(everyone)
        if person in self.site.hr:
            path = f"/sessions/{self.pick_session()}/enrolments"
        elif person in self.site.managers or person is self.site.director:
            path = "/approvals"
        else:
            mine = self.live_of(person.id)
            path = f"/enrolments/{self.rng.choice(mine).id}" if mine and self.rng.random() < 0.5 else "/my-learning"
        self.add(Action("look", person, path, None, expect=(200,)))
        return True

    def cancel_session(self, session_id: int) -> None:
        """Two HR people cancel the session at once (one of them with a triple click), each pressing
        the confirm button of the preview they opened before the round. If the round changed who is
        enrolled before their confirm lands, nothing is cancelled (409, the new preview): the
        session is cancelled in a later round."""
        first, second = self.rng.sample(self.free(self.site.hr), k=2)
        for actor, clicks in ((first, 3), (second, 1)):
            path = f"/sessions/{session_id}/cancel"
            confirm = _previewed(actor, path, [("csrf_token", actor.token), ("reason", "講師急病のため")])
            assert confirm is not None, f"no preview of cancelling session {session_id}"
            self.add(Action("cancel session", actor, path, confirm, clicks=clicks, session_id=session_id,
                            expect=(*REDIRECTS, 409)))

    def plan(self) -> list[Action]:
        if self.focus:
            self.cancel_session(self.focus)
        moves: list[tuple[Callable[[], bool], int]] = [
            (self.enrol, 30), (self.enrol_on_behalf, 6), (self.cancel, 22), (self.decide, 16),
            (lambda: self.decide(by_hr=True), 5), (self.edit_capacity, 7), (self.bulk, 5), (self.promote, 3),
            (self.look, 8)]
        wanted = self.rng.randint(10, 15)
        for _attempt in range(wanted * 3):
            if len(self.actions) >= wanted:
                break
            move = self.rng.choices([m for m, _ in moves], weights=[w for _, w in moves])[0]
            move()
        return self.actions


def _previewed(person: Person, path: str, data: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """Submit the form as it stands now (a preview: nothing changes) and return the fields of its
    confirm button's form, carrying the preview's fingerprint (None: nothing to confirm)."""
    response = person.client.request("POST", path, cast(dict[str, str], data))
    assert response.status == 200, (path, response.status, response.text[:300])
    forms = confirm_forms(response.text)
    return forms[0][1] if forms else None


def _tab(client: HttpClient) -> HttpClient:
    """Another tab of the same browser: the same cookies, its own answers."""
    tab = HttpClient(client.host, client.port, client.accept_language)
    tab.cookies = dict(client.cookies)
    return tab


def _run(actions: list[Action]) -> None:
    """Release every click of every action at the same moment. The clicks of one action carry the
    same cookies (all sent before any answer, as a browser does), each in a tab of its own so that
    each click's answer (and what it flashes) can be read separately."""
    jobs: list[Callable[[http.client.HTTPConnection], Response]] = []
    owners: list[Action] = []
    for action in actions:
        for _click in range(action.clicks):
            tab = _tab(action.who.client)
            action.tabs.append(tab)

            def job(connection: http.client.HTTPConnection, action: Action = action, tab: HttpClient = tab) -> Response:
                if action.data is None:
                    return tab.request("GET", action.path, None, connection)
                # repeated names (enrolment_id): urlencode takes the pairs as they are
                return tab.request("POST", action.path, cast(dict[str, str], action.data), connection)
            jobs.append(job)
            owners.append(action)
    connections: list[http.client.HTTPConnection] = []
    try:
        for action in owners:
            connections.append(action.who.client.connect())
    except BaseException:
        for connection in connections:
            connection.close()
        raise
    for action, result in zip(owners, release_together(jobs, connections), strict=True):
        action.responses.append(result)


# --- checks -----------------------------------------------------------------------------------------


def _check_responses(site: FuzzSite, actions: list[Action]) -> list[str]:
    """Every answer as designed; then each browser opens the page it was sent to and reads what it
    was told (in a quiet moment: the round is over)."""
    problems: list[str] = []
    followers: list[tuple[Action, int, str]] = []
    for action in actions:
        action.told = [[] for _response in action.responses]
        for click, response in enumerate(action.responses):
            if isinstance(response, BaseException):
                problems.append(f"no answer ({response!r}): {action.describe()}")
            elif response.status >= 500:
                problems.append(f"{response.status}: {action.describe()}\n{response.text[:400]}")
            elif response.status == 403:
                problems.append(f"403 to an entitled user: {action.describe()}\n{response.text[:400]}")
            elif response.status not in action.expect:
                problems.append(f"unexpected {response.status}: {action.describe()}\n{response.text[:400]}")
            elif response.status == 400:  # only the edit form, refusing the capacity: say why
                errors = re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', response.text, re.S)
                known = [site.told["capacity_meanwhile"], site.told["session_cancelled"]]
                if not errors or not all(_pattern(site.told["capacity_below"]).search(html.unescape(e))
                                         or any(k in html.unescape(e) for k in known) for e in errors):
                    problems.append(f"400 without the capacity reason: {action.describe()} {errors}")
            elif response.status == 409:  # a confirm of a preview the round made stale: nothing applied
                if site.told["stale"] not in html.unescape(response.text):
                    problems.append(f"409 without saying the preview was stale: {action.describe()}")
                action.told[click].append(("error", site.told["stale"]))
            elif response.status == 200 and action.kind == "bulk":
                panel = re.search(r'<section class="panel" role="status">(.*?)</section>', response.text, re.S)
                if panel is None:
                    problems.append(f"bulk enrolment shows no result: {action.describe()}")
                else:
                    action.told[click].append(("bulk", html.unescape(re.sub(r"<[^>]+>", " ", panel.group(1)))))
            if isinstance(response, Response) and response.status in REDIRECTS:
                followers.append((action, click, _path_of(response.headers["Location"])))

    def follow(item: tuple[Action, int, str]) -> tuple[Action, int, Response]:
        action, click, path = item
        return action, click, action.tabs[click].get(path)

    with ThreadPoolExecutor(max_workers=6) as pool:
        for action, click, page in pool.map(follow, followers):
            if page.status != 200:
                problems.append(f"the page after the action answered {page.status}: {action.describe()}")
                continue
            action.told[click] = _flashes(page.text)
    for action in actions:
        action.who.client.cookies = dict(action.tabs[-1].cookies)  # the browser read its messages
        for click, response in enumerate(action.responses):
            if isinstance(response, Response) and response.status in REDIRECTS and not action.told[click]:
                problems.append(f"the user was told nothing after click {click + 1}: {action.describe()}")
        for text in dict.fromkeys(text for _category, text in action.flashes):  # once each
            if _english(text):
                problems.append(f"told in English, not the user's language: {text!r}: {action.describe()}")
            if any(site.told[key] in text for key in ("refusal_approve", "refusal_decline", "refusal_deadline")):
                problems.append(f"an entitled user was told they may not: {text!r}: {action.describe()}")
        # one effect per action however often it was clicked
        succeeded = sum(any(_success(site, action.kind, text) for _c, text in told) for told in action.told)
        if succeeded > 1:
            problems.append(f"{succeeded} clicks of one action all took effect: {action.describe()}")
    # a request is decided once per stage it has left (manager, then HR), however many try at once
    left = {i: n for a in actions for i, n in a.decisions_left.items()}
    done = sum(int(m.group(1)) for a in actions if a.kind in ("approve", "decline") for _c, text in a.flashes
               for m in [_pattern(site.told["approved_n"]).fullmatch(text)
                         or _pattern(site.told["declined_n"]).fullmatch(text)] if m)
    if done > sum(left.values()):
        problems.append(f"{done} decisions reported done for requests with {sum(left.values())} stages left: "
                        + "; ".join(a.describe() for a in actions if a.decisions_left))
    sessions_cancelled = [a.describe() for a in actions if a.kind == "cancel session" for _c, text in a.flashes
                          if text == site.told["session_cancelled_done"]]
    if len(sessions_cancelled) > 1:
        problems.append(f"a session was cancelled {len(sessions_cancelled)} times: {sessions_cancelled}")
    return problems


def _success(site: FuzzSite, kind: str, text: str) -> bool:
    """Whether `text` says that an action of this kind took effect."""
    told = site.told
    if kind in ("enrol", "enrol on behalf"):
        return text in (told["confirmed"], told["kept"]) or any(
            _pattern(told[key]).fullmatch(text) for key in ("waitlisted", "pending_waiting"))
    if kind == "cancel":
        return text == told["cancelled_done"]
    return kind == "cancel session" and text == told["session_cancelled_done"]


def _check_told(site: FuzzSite, actions: list[Action], snapshot: Snapshot) -> list[str]:
    """A single-click enrolment that was told it succeeded made a new enrolment, recorded in the
    state it was told. A waitlist number told was the true place at some moment of the round: a
    place only moves up while one waits (new requests queue behind), so it is at least the place
    at the end of the round and at most the number of requests that could be ahead (those waiting
    when the round began, and those of this round up to this one)."""
    problems: list[str] = []
    told = site.told
    waiting_at_start = Counter(e.session_id for e in snapshot.live if not e.holds_seat)
    with site.app.app_context():
        for action in actions:
            if not action.kind.startswith("enrol") or action.clicks != 1 or action.subject is None:
                continue
            texts = [text for _category, text in action.flashes]
            said = None
            number = None
            for text in texts:
                for key in ("confirmed", "kept"):
                    if text == told[key]:
                        said = key
                for key in ("waitlisted", "pending_waiting"):
                    match = _pattern(told[key]).fullmatch(text)
                    if match:
                        said, number = key, int(match.group(1))
            if said is None:
                continue
            made = db_session.scalar(select(Enrolment).where(
                Enrolment.employee_id == action.subject.id, Enrolment.session_id == action.session_id,
                Enrolment.id > snapshot.max_enrolment_id).order_by(Enrolment.id).limit(1))
            if made is None:
                problems.append(f"told {said!r} but no enrolment was made: {action.describe()}")
                continue
            first = db_session.scalar(select(EnrolmentEvent).where(EnrolmentEvent.enrolment_id == made.id)
                                      .order_by(EnrolmentEvent.id).limit(1))
            recorded = first.to_state if first else None
            expected = {"confirmed": "confirmed", "waitlisted": "waitlisted", "kept": "pending",
                        "pending_waiting": "pending"}[said]
            if recorded != expected:
                problems.append(f"told {said!r} but recorded {recorded!r} (enrolment {made.id}): {action.describe()}")
            if number is not None:
                new_up_to_it = len(db_session.scalars(select(Enrolment.id).where(
                    Enrolment.session_id == made.session_id, Enrolment.id > snapshot.max_enrolment_id,
                    Enrolment.id <= made.id)).all())
                most = waiting_at_start[made.session_id] + new_up_to_it
                least = queries.positions(made.session_id).get(made.id, 1)
                if not least <= number <= most:
                    problems.append(f"told waitlist number {number} for enrolment {made.id}, but its place was "
                                    f"between {least} (now) and {most} (at most): {action.describe()}")
        db_session.remove()
    return problems


def _invariants(site: FuzzSite) -> list[str]:
    problems: list[str] = []
    with site.app.app_context():
        sessions = list(db_session.scalars(select(TrainingSession).order_by(TrainingSession.id)))
        enrolments = list(db_session.scalars(select(Enrolment).order_by(Enrolment.id)))
        events: dict[int, list[EnrolmentEvent]] = defaultdict(list)
        for event in db_session.scalars(select(EnrolmentEvent).order_by(EnrolmentEvent.id)):
            events[event.enrolment_id].append(event)
        for session in sessions:
            rows = [e for e in enrolments if e.session_id == session.id]
            holders = [e for e in rows if e.holds_seat]
            live = [e for e in rows if e.state in ACTIVE_STATES]
            waiting = [e.id for e in live if not e.holds_seat]
            where = f"session {session.id} ({session.status.value}, capacity {session.capacity})"
            if len(holders) > session.capacity:
                problems.append(f"{where}: {len(holders)} hold seats")
            if session.seats_taken != len(holders):
                problems.append(f"{where}: counter {session.seats_taken} but {len(holders)} hold seats")
            if any(e.state not in ACTIVE_STATES for e in holders):
                problems.append(f"{where}: an ended enrolment holds a seat")
            positions = queries.positions(session.id)
            if positions != {enrolment_id: place for place, enrolment_id in enumerate(waiting, start=1)}:
                problems.append(f"{where}: waitlist places {positions}, waiting {waiting}")
            if sorted(positions.values()) != list(range(1, len(waiting) + 1)):
                problems.append(f"{where}: waitlist places are not 1..{len(waiting)}: {sorted(positions.values())}")
            if session.status == SessionStatus.CANCELLED:
                if live:
                    problems.append(f"{where}: cancelled, but {[e.id for e in live]} are live")
                continue
            if waiting and len(holders) < session.capacity:
                problems.append(f"{where}: {session.capacity - len(holders)} seat(s) free while {waiting} wait")
            seated = [e.id for e in live if e.holds_seat]
            if waiting and seated and max(seated) > min(waiting):
                problems.append(f"{where}: enrolment {min(waiting)} waits although {max(seated)}, later, has a seat")
        live_per_course = Counter((e.employee_id, e.course_id) for e in enrolments if e.state in ACTIVE_STATES)
        problems += [f"employee {who} has {n} live enrolments in course {course}"
                     for (who, course), n in live_per_course.items() if n > 1]
        for enrolment in enrolments:
            history = events.get(enrolment.id, [])
            chain = [(e.from_state, e.to_state, e.note.split(":")[0]) for e in history]
            where = f"enrolment {enrolment.id} (now {enrolment.state.value}) history {chain}"
            if not history:
                problems.append(f"{where}: no history")
                continue
            if history[0].from_state is not None:
                problems.append(f"{where}: does not start from nothing")
            if any(later.from_state != earlier.to_state for earlier, later in itertools.pairwise(history)):
                problems.append(f"{where}: a transition is missing or recorded twice")
            if any(e.from_state in ENDED for e in history):
                problems.append(f"{where}: moved again after it ended")
            if history[-1].to_state != enrolment.state.value:
                problems.append(f"{where}: the last recorded state is not the row's")
            if sum(kind == "promoted" for _f, _t, kind in chain) > 1:
                problems.append(f"{where}: given a seat twice")
        db_session.remove()
    return problems


def _new_errors(site: FuzzSite, seen: int) -> list[str]:
    return ["server exception:\n" + "".join(traceback.format_exception(error)) for error in site.errors[seen:]]


# --- the tests -----------------------------------------------------------------------------------------


def test_burst_of_enrolments_tells_each_person_their_place(fuzz_site: FuzzSite) -> None:
    """Everyone who enrols in the same moment is told a distinct, true place; nobody cancels."""
    site = fuzz_site
    open_people, manager_people = site.staff[:14], site.staff[14:24]
    plan = [(p, site.burst_open) for p in open_people] + [(p, site.burst_manager) for p in manager_people]
    actions = [Action("enrol", p, f"/sessions/{s}/enrol", [("csrf_token", p.token)], session_id=s, subject=p)
               for p, s in plan]
    _run(actions)
    problems = _check_responses(site, actions) + _new_errors(site, 0)
    assert not problems, "\n".join(problems)

    told = site.told
    with site.app.app_context():
        places = {s: queries.positions(s) for s in (site.burst_open, site.burst_manager)}
        mine = {(e.employee_id, e.session_id): e for e in db_session.scalars(select(Enrolment).where(
            Enrolment.session_id.in_(places)))}
        db_session.remove()
    numbers: dict[int, list[int]] = defaultdict(list)
    seated: Counter[int] = Counter()
    for action in actions:
        assert action.session_id is not None
        enrolment = mine[(action.who.id, action.session_id)]
        texts = [text for _category, text in action.flashes]
        waiting_key = "waitlisted" if action.session_id == site.burst_open else "pending_waiting"
        seat_text = told["confirmed"] if action.session_id == site.burst_open else told["kept"]
        match = next((m for m in map(_pattern(told[waiting_key]).fullmatch, texts) if m), None)
        if seat_text in texts:
            assert enrolment.holds_seat, (action.describe(), enrolment.state)
            seated[action.session_id] += 1
        else:
            assert match, f"told neither a seat nor a place: {action.describe()}"
            number = int(match.group(1))
            assert number == places[action.session_id].get(enrolment.id), (
                f"{action.who.label} was told number {number}, but their place is "
                f"{places[action.session_id].get(enrolment.id)}")
            numbers[action.session_id].append(number)
            page = action.who.client.get("/my-learning")  # and My learning agrees
            badge = told["badge_waitlisted"] if waiting_key == "waitlisted" else told["badge_pending"]
            assert badge.replace("N", str(number)) in html.unescape(page.text), action.describe()
    assert seated == {site.burst_open: 3, site.burst_manager: 2}
    assert sorted(numbers[site.burst_open]) == list(range(1, len(open_people) - 3 + 1))
    assert sorted(numbers[site.burst_manager]) == list(range(1, len(manager_people) - 2 + 1))
    broken = _invariants(site)
    assert not broken, "\n".join(broken)


def test_concurrent_random_transitions_keep_every_invariant(fuzz_site: FuzzSite) -> None:
    site = fuzz_site
    rng = random.Random(SEED)
    log: dict[int, str] = {}
    problems: list[str] = []
    failing: list[int] = []
    seen_errors = len(site.errors)
    for round_number in range(ROUNDS):
        snapshot = _snapshot(site)
        actions = Planner(site, rng, snapshot, round_number).plan()
        _run(actions)
        found = _check_responses(site, actions) + _check_told(site, actions, snapshot)
        found += _new_errors(site, seen_errors)
        seen_errors = len(site.errors)
        broken = _invariants(site)
        log[round_number] = f"round {round_number}:\n  " + "\n  ".join(a.describe() for a in actions)
        problems += [f"round {round_number}: {p}" for p in found + broken]
        if found or broken:
            failing.append(round_number)
        if broken:  # the state is wrong from here on: stop at the round that broke it
            break
    # At rest, every person's My learning shows the waitlist place the database holds.
    if not problems:
        problems += _check_places_shown(site)
    shown = sorted({r for f in failing[:3] for r in (f - 1, f) if r in log})  # each failing round and the one before
    assert not problems, (f"seed {SEED}, {ROUNDS} rounds\n" + "\n".join(problems[:25])
                          + "\n\nthe rounds:\n" + "\n".join(log[r] for r in shown))


def _check_places_shown(site: FuzzSite) -> list[str]:
    problems: list[str] = []
    with site.app.app_context():
        waiting = list(db_session.scalars(select(Enrolment).where(Enrolment.state.in_(ACTIVE_STATES),
                                                                   Enrolment.holds_seat.is_(False))))
        places: dict[int, int] = {}
        for session_id in {e.session_id for e in waiting}:
            places.update(queries.positions(session_id))
        by_person: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for enrolment in waiting:
            by_person[enrolment.employee_id].append((enrolment.id, places[enrolment.id]))
        db_session.remove()
    people = {p.id: p for p in site.staff}

    def look(person_id: int) -> list[str]:
        page = html.unescape(people[person_id].client.get("/my-learning").text)
        items = page.split("<li>")
        found = []
        for enrolment_id, place in by_person[person_id]:
            item = next((i for i in items if f'/enrolments/{enrolment_id}"' in i), "")
            badges = [site.told["badge_waitlisted"].replace("N", str(place)),
                      site.told["badge_pending"].replace("N", str(place))]
            if not any(b in item for b in badges):
                found.append(f"{people[person_id].label}: My learning does not show place {place} of enrolment "
                             f"{enrolment_id}: {re.sub(r'<[^>]+>', ' ', item)[:200]!r}")
        return found

    with ThreadPoolExecutor(max_workers=6) as pool:
        for found in pool.map(look, [p for p in by_person if p in people]):
            problems += found
    return problems
