"""Races of attendance through the real web stack, on SQLite and PostgreSQL (ARCHITECTURE.md
rule 11): a check-in sent three times at once (from no mark, or from "absent") makes one mark;
"mark all present" while people check in leaves one mark each; a roster saved from a page opened
before a check-in does not overwrite it; a participant list applied, or a guest matched by hand,
three times at once takes effect once. Every change is audited once; losers are told what
happened, in Japanese, on the page they are redirected to: never a 500 or a second effect.

Like tests/cohorts/test_concurrency.py this serves a freshly migrated database of its own with
real commits; each test makes its own session, whose first meeting started five minutes ago.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from app.attendance import participants
from app.attendance.checkin_codes import current_code
from app.attendance.models import ATTENDED, AttendanceMark, AttendanceStatus, MarkSource
from app.attendance.services import set_mark
from app.audit.models import AuditEvent
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee, RoleName
from app.scheduling.models import Meeting, TrainingSession
from tests import factories
from tests.confirming import confirm_form
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, serve_in_thread
from tests.racing import Post, assert_all_redirected, post_at_once, told

CHECKED_IN = "出席を登録しました。ようこそ！"
ALREADY = "既に出席登録済みです。"


@dataclass
class Site:
    port: int
    app: Flask
    errors: list[BaseException] = field(default_factory=list)

    def browser(self, login: str) -> HttpClient:
        return HttpClient("127.0.0.1", self.port).sign_in(login)


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("attendance-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
    with serve_in_thread(application, "attendance-live-server") as (port, errors):
        yield Site(port, application, errors)


@pytest.fixture(autouse=True)
def _fresh_errors(site: Site) -> None:
    site.errors.clear()


@dataclass
class Meeting_:
    id: int
    instructor: str
    people: list[tuple[str, int]]  # (login, enrolment id)


def _meeting_now(site: Site, people: int) -> Meeting_:
    with site.app.app_context():
        division = factories.unit()
        instructor = factories.employee(division, "SHUSA", roles=(RoleName.INSTRUCTOR,))
        staff = [factories.employee(division, "SHUNIN") for _ in range(people)]
        session = factories.training_session(factories.course(), starts_in=timedelta(days=3), capacity=people,
                                             instructors=[instructor])
        enrolments = [factories.enrolment(person, session).id for person in staff]
        started = now() - timedelta(minutes=5)
        meeting_id = session.meetings[0].id
        db_session.execute(update(Meeting).where(Meeting.id == meeting_id).values(
            starts_at=started, ends_at=started + timedelta(hours=3)))
        db_session.execute(update(TrainingSession).where(TrainingSession.id == session.id).values(
            starts_at=started, ends_at=started + timedelta(hours=3)))
        db_session.execute(update(Enrolment).where(Enrolment.id.in_(enrolments)).values(
            confirmed_at=started - timedelta(days=1)))
        db_session.commit()
        return Meeting_(meeting_id, instructor.employee_number,
                        [(p.employee_number, e) for p, e in zip(staff, enrolments, strict=False)])


def _check_in(site: Site, meeting: Meeting_, browser: HttpClient) -> Post:
    path = f"/attendance/check-in/{meeting.id}"
    token = browser.csrf_token(path)
    return Post(browser, path, {"code": current_code(site.app.config["SECRET_KEY"], meeting.id, now())[0],
                                "csrf_token": token})


def _marks(site: Site, meeting_id: int) -> dict[int, AttendanceMark]:
    with site.app.app_context():
        return {m.enrolment_id: m for m in db_session.scalars(
            select(AttendanceMark).where(AttendanceMark.meeting_id == meeting_id))}


def _audits(site: Site, enrolment_id: int, meeting_id: int) -> int:
    with site.app.app_context():
        return db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "attendance.marked", AuditEvent.target_id == f"{enrolment_id}:{meeting_id}"))


def _mark(site: Site, meeting: Meeting_, enrolment_id: int, status: AttendanceStatus) -> None:
    with site.app.app_context():
        instructor = db_session.scalar(select(Employee).where(Employee.employee_number == meeting.instructor))
        set_mark(instructor, db_session.get(Enrolment, enrolment_id), db_session.get(Meeting, meeting.id), status)
        db_session.commit()


@pytest.mark.parametrize("before", [None, AttendanceStatus.ABSENT])
def test_a_check_in_sent_three_times_at_once_makes_one_mark(site: Site, before: AttendanceStatus | None) -> None:
    meeting = _meeting_now(site, 1)
    ((login, enrolment_id),) = meeting.people
    if before is not None:  # marked absent by the instructor, then arrives
        _mark(site, meeting, enrolment_id, before)
    browsers = [site.browser(login) for _ in range(3)]

    results = post_at_once([_check_in(site, meeting, b) for b in browsers])

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=False) for m in told(b, r))
    assert messages == sorted([CHECKED_IN, ALREADY, ALREADY]), messages
    mark = _marks(site, meeting.id)[enrolment_id]
    assert mark.status in ATTENDED and mark.source == MarkSource.CHECK_IN
    assert _audits(site, enrolment_id, meeting.id) == (1 if before is None else 2)


def test_mark_all_present_while_people_check_in(site: Site) -> None:
    meeting = _meeting_now(site, 4)
    instructor = site.browser(meeting.instructor)
    roster = f"/attendance/meetings/{meeting.id}"
    posts = [Post(instructor, roster, {"action": "all_present", "csrf_token": instructor.csrf_token(roster)})]
    posts += [_check_in(site, meeting, site.browser(login)) for login, _enrolment in meeting.people]

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    for post, result in zip(posts[1:], results[1:], strict=False):
        assert told(post.client, result) in ([CHECKED_IN], [ALREADY])  # already: marked by the instructor first
    marks = _marks(site, meeting.id)
    assert sorted(marks) == sorted(e for _login, e in meeting.people)
    for _login, enrolment_id in meeting.people:
        assert marks[enrolment_id].status in ATTENDED
        assert _audits(site, enrolment_id, meeting.id) == 1  # whoever came first; nobody twice
    (said,) = told(instructor, results[0])
    roster_marked = sum(1 for m in marks.values() if m.source == MarkSource.ROSTER)
    assert said == f"{roster_marked} 人を出席にしました。"


def test_a_roster_saved_from_an_older_page_keeps_a_check_in(site: Site) -> None:
    meeting = _meeting_now(site, 2)
    (late_login, late_id), (other_login, other_id) = meeting.people
    _mark(site, meeting, late_id, AttendanceStatus.ABSENT)
    _mark(site, meeting, other_id, AttendanceStatus.ABSENT)
    instructor = site.browser(meeting.instructor)
    roster = f"/attendance/meetings/{meeting.id}"
    token = instructor.csrf_token(roster)  # the page shows both absent
    page = {f"status-{late_id}": "absent", f"remark-{late_id}": "", f"was-status-{late_id}": "absent",
            f"was-remark-{late_id}": "", f"status-{other_id}": "absent", f"remark-{other_id}": "",
            f"was-status-{other_id}": "absent", f"was-remark-{other_id}": ""}
    for login in (late_login, other_login):  # both arrive and check in while the page is open
        post = _check_in(site, meeting, site.browser(login))
        assert post.client.post(post.path, post.data).status == 302

    # the instructor changes the first row only (absent → excused) and saves the whole page
    response = instructor.post(roster, {**page, f"status-{late_id}": "excused", "csrf_token": token})

    assert response.status == 302 and not site.errors
    assert told(instructor, response) == [
        "出欠を保存しました（変更 0 件）。",
        "このページを開いている間に 1 人の出欠が本人の出席登録などで変わったため、そのままにしました。"
        "下の一覧で確認してください。"]
    marks = _marks(site, meeting.id)
    assert all(marks[e].status in ATTENDED and marks[e].source == MarkSource.CHECK_IN for e in (late_id, other_id))
    assert _audits(site, late_id, meeting.id) == 2 and _audits(site, other_id, meeting.id) == 2


# --- participant lists: one apply, one match by hand --------------------------------------------


def _applied_list_with_a_guest(site: Site, meeting: Meeting_, *, apply: bool) -> tuple[int, int]:
    """A participant list with one guest without an e-mail, in for 170 of the 180 minutes:
    (import id, guest id)."""
    with site.app.app_context():
        instructor = db_session.scalar(select(Employee).where(Employee.employee_number == meeting.instructor))
        found = db_session.get(Meeting, meeting.id)
        start, end = (found.starts_at + timedelta(minutes=m) for m in (0, 170))
        raw = ("Name,Email,Join Time,Leave Time\n"
               f"ゲスト,,{start.astimezone(TOKYO):%Y/%m/%d %H:%M:%S},{end.astimezone(TOKYO):%Y/%m/%d %H:%M:%S}\n")
        participant_import = participants.upload(instructor, found, raw.encode(), "participants.csv")
        if apply:
            participants.apply(instructor, participant_import)
        db_session.commit()
        return participant_import.id, participant_import.participants[0].id


def _count(site: Site, action: str) -> int:
    with site.app.app_context():
        return db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_a_list_applied_three_times_at_once_is_applied_once(site: Site) -> None:
    meeting = _meeting_now(site, 1)
    import_id, _guest = _applied_list_with_a_guest(site, meeting, apply=False)
    page, post = (f"/attendance/meetings/{meeting.id}/{tail}" for tail in ("participant-lists", "participants"))
    browsers = [site.browser(meeting.instructor) for _ in range(3)]
    applied_before = _count(site, "attendance.participants_applied")

    # three tabs of the list's preview, and the apply button pressed in all at once
    results = post_at_once([Post(b, f"{post}/apply", dict(confirm_form(b.get(f"{page}?import={import_id}").text)[1]))
                            for b in browsers])

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=False) for m in told(b, r))
    assert messages == sorted(["参加者リストから出欠を登録しました（変更 0 件）。"]
                              + ["このリストは登録済みです。"] * 2)
    assert _count(site, "attendance.participants_applied") == applied_before + 1


def test_a_guest_matched_by_hand_three_times_at_once_is_matched_and_marked_once(site: Site) -> None:
    meeting = _meeting_now(site, 1)
    ((_login, enrolment_id),) = meeting.people
    _import, guest_id = _applied_list_with_a_guest(site, meeting, apply=True)
    page, post = (f"/attendance/meetings/{meeting.id}/{tail}" for tail in ("participant-lists", "participants"))
    browsers = [site.browser(meeting.instructor) for _ in range(3)]
    matched_before = _count(site, "attendance.participant_matched")

    results = post_at_once([Post(b, f"{post}/match", {"participant_id": str(guest_id), "enrolment": str(enrolment_id),
                                                       "csrf_token": b.csrf_token(page)}) for b in browsers])

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=False) for m in told(b, r))
    assert messages == sorted(["照合しました: ゲスト。"]
                              + ["ほかの人がすでにこの人を照合しています。下で確認してください。"] * 2)
    mark = _marks(site, meeting.id)[enrolment_id]
    assert (mark.status, mark.source) == (AttendanceStatus.PRESENT, MarkSource.IMPORT)  # 170 of 180 minutes
    assert _audits(site, enrolment_id, meeting.id) == 1
    assert _count(site, "attendance.participant_matched") == matched_before + 1
