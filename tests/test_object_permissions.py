"""Object-level rules: who may act on *this* row. Each row of a table below is a real request by a
signed-in person through the test client (CSRF on), checked for its status and for what it did to
the database; the predicates of app/permissions.py that decide them are unit-tested at the end.

The cast: `member` belongs to the division `manager` heads; `stranger` works elsewhere;
`instructor` teaches session A (where `member` has a confirmed place), `other_instructor` teaches
session B (where `member` has a request waiting for the manager); `hr`; `admin`;
`other_manager` heads another unit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, NotFound

from app import permissions
from app.assessment.models import Quiz, QuizAttempt
from app.attendance.models import AttendanceMark
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.org.models import Employee, RoleName, Unit
from app.reminders.models import Notification
from app.scheduling.models import Meeting, TrainingSession
from tests import factories

PEOPLE = ("member", "manager", "other_manager", "stranger", "instructor", "other_instructor", "hr", "admin")


@dataclass(frozen=True)
class World:
    people: dict[str, tuple[int, str]]  # name -> (id, employee number)
    division_id: int
    elsewhere_id: int
    session_a: int  # taught by `instructor`; member's confirmed place
    meeting_a: int
    session_b: int  # taught by `other_instructor`; member's request waits for the manager
    meeting_b: int
    confirmed: int  # member's enrolment in A
    pending: int  # member's request in B
    hr_pending: int  # HR's own request in B (waits at HR's stage)
    notification: int  # a message to member
    attempt: int  # member's submitted quiz attempt in A, waiting for a grader
    draft_course: str

    def id(self, name: str) -> int:
        return self.people[name][0]


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        department = factories.unit("権限部")
        division = factories.unit("権限課", parent=department)
        elsewhere = factories.unit("別の係", parent=department)
        another = factories.unit("他所の課", parent=department)
        people: dict[str, Employee] = {
            "member": factories.employee(division),
            "manager": factories.employee(division, "KACHO", heads=division),
            "other_manager": factories.employee(another, "KACHO", heads=another),
            "stranger": factories.employee(elsewhere),
            "instructor": factories.employee(elsewhere, roles=(RoleName.INSTRUCTOR,)),
            "other_instructor": factories.employee(elsewhere, roles=(RoleName.INSTRUCTOR,)),
            "hr": factories.employee(elsewhere, roles=(RoleName.HR,)),
            "admin": factories.employee(elsewhere, roles=(RoleName.ADMIN,)),
        }
        course_a, course_b = factories.course(), factories.course()
        session_a = factories.training_session(course_a, instructors=[people["instructor"]])
        session_b = factories.training_session(course_b, policy="manager", instructors=[people["other_instructor"]])
        confirmed = factories.enrolment(people["member"], session_a)
        pending = factories.enrolment(people["member"], session_b)
        hr_pending = factories.enrolment(people["hr"], session_b)
        assert confirmed.state == EnrolmentState.CONFIRMED
        assert (pending.state, pending.approval_stage) == (EnrolmentState.PENDING, ApprovalStage.MANAGER)
        assert (hr_pending.state, hr_pending.approval_stage) == (EnrolmentState.PENDING, ApprovalStage.HR)
        notification = db_session.scalar(select(Notification.id).where(
            Notification.recipient_id == people["member"].id).limit(1))
        assert notification is not None
        quiz = Quiz(course_id=course_a.id, updated_at=now())
        db_session.add(quiz)
        db_session.flush()
        attempt = QuizAttempt(quiz_id=quiz.id, enrolment_id=confirmed.id, employee_id=people["member"].id,
                              attempt_no=1, question_order=[], started_at=now(), submitted_at=now(),
                              needs_grading=True)
        db_session.add(attempt)
        draft = factories.course(status="draft")
        db_session.commit()
        return World(
            people={name: (p.id, p.employee_number) for name, p in people.items()},
            division_id=division.id, elsewhere_id=elsewhere.id,
            session_a=session_a.id, meeting_a=session_a.meetings[0].id,
            session_b=session_b.id, meeting_b=session_b.meetings[0].id,
            confirmed=confirmed.id, pending=pending.id, hr_pending=hr_pending.id,
            notification=notification, attempt=attempt.id, draft_course=draft.code,
        )


def signed_in(app: Flask, world: World, name: str) -> FlaskClient:
    client = app.test_client()
    response = factories.login(client, world.people[name][1])
    assert response.status_code == 302
    return client


def enrolment_state(app: Flask, enrolment_id: int) -> EnrolmentState:
    with app.app_context():
        enrolment = db_session.get(Enrolment, enrolment_id)
        assert enrolment is not None
        return enrolment.state


# --- enrolments: own vs another's --------------------------------------------------------------

# (who, status of GET /enrolments/<member's>): the person, their manager chain, HR and administrators.
ENROLMENT_VIEW_RULES: list[tuple[str, int]] = [
    ("member", 200),
    ("manager", 200),
    ("hr", 200),
    ("admin", 200),
    ("stranger", 403),
    ("other_manager", 403),
    ("instructor", 403),  # teaching the session shows its roster, not each person's enrolment page
]


@pytest.mark.parametrize(("who", "status"), ENROLMENT_VIEW_RULES, ids=[w for w, _ in ENROLMENT_VIEW_RULES])
def test_viewing_an_enrolment(app: Flask, world: World, who: str, status: int) -> None:
    client = signed_in(app, world, who)
    assert client.get(f"/enrolments/{world.confirmed}").status_code == status
    assert client.get(f"/enrolments/{world.confirmed}/calendar.ics").status_code == status


# (who, status of POST /enrolments/<member's>/cancel, cancelled): the person, their manager chain
# (before the deadline) and HR; an administrator may look at it but not cancel it.
ENROLMENT_CANCEL_RULES: list[tuple[str, int, bool]] = [
    ("member", 302, True),
    ("manager", 302, True),
    ("hr", 302, True),
    ("admin", 302, False),
    ("stranger", 403, False),
    ("other_manager", 403, False),
    ("instructor", 403, False),
]


@pytest.mark.parametrize(("who", "status", "cancelled"), ENROLMENT_CANCEL_RULES,
                         ids=[w for w, _, _ in ENROLMENT_CANCEL_RULES])
def test_cancelling_an_enrolment(app: Flask, world: World, who: str, status: int, cancelled: bool) -> None:
    client = signed_in(app, world, who)
    response = factories.post(client, f"/enrolments/{world.confirmed}/cancel", {"reason": ""})
    assert response.status_code == status
    expected = EnrolmentState.CANCELLED if cancelled else EnrolmentState.CONFIRMED
    assert enrolment_state(app, world.confirmed) == expected


# (who, request, status of POST /approvals, decided): a request at the manager's stage is decided by
# the manager chain and HR; one at HR's stage by HR, never by its own author.
DECISION_RULES: list[tuple[str, str, int, bool]] = [
    ("manager", "pending", 302, True),
    ("hr", "pending", 302, True),
    ("other_manager", "pending", 403, False),  # not their team: not even visible
    ("stranger", "pending", 403, False),  # no approval right at all
    ("member", "pending", 403, False),  # their own request
    ("instructor", "pending", 403, False),
    ("hr", "hr_pending", 302, False),  # HR's own request: refused, a colleague decides it
    ("manager", "hr_pending", 403, False),
]


@pytest.mark.parametrize(("who", "which", "status", "decided"), DECISION_RULES,
                         ids=[f"{w}-{r}" for w, r, _, _ in DECISION_RULES])
def test_deciding_a_request(app: Flask, world: World, who: str, which: str, status: int, decided: bool) -> None:
    enrolment_id = getattr(world, which)
    client = signed_in(app, world, who)
    response = factories.post(client, "/approvals", {"enrolment_id": str(enrolment_id), "action": "approve"})
    assert response.status_code == status
    assert (enrolment_state(app, enrolment_id) != EnrolmentState.PENDING) is decided


def test_the_decision_form_shows_only_to_whoever_may_decide(app: Flask, world: World) -> None:
    for who, shown in (("manager", True), ("hr", True), ("member", False), ("admin", False)):
        page = signed_in(app, world, who).get(f"/enrolments/{world.pending}").get_data(as_text=True)
        assert ('name="action"' in page) is shown, who


def test_only_hr_may_override_the_enrolment_rules(app: Flask, world: World) -> None:
    """A manager's "override" tick is ignored (the closed window still refuses); HR's is honoured."""
    with app.app_context():
        course = factories.course()
        closed = factories.training_session(course, opens_ago=timedelta(days=30), closes_before=timedelta(days=15))
        closed_id = closed.id
    member_number = world.people["member"][1]
    for who, enrolled in (("manager", False), ("hr", True)):
        client = signed_in(app, world, who)
        response = factories.post(client, f"/sessions/{closed_id}/enrol",
                                  {"employee_number": member_number, "override_rules": "y"})
        assert response.status_code == 302
        with app.app_context():
            live = db_session.scalar(select(Enrolment.id).where(
                Enrolment.session_id == closed_id, Enrolment.employee_id == world.id("member")))
        assert (live is not None) is enrolled, who


# --- messages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("member", 200), ("stranger", 404), ("hr", 404), ("admin", 404)])
def test_a_message_is_its_recipients_alone(app: Flask, world: World, who: str, status: int) -> None:
    client = signed_in(app, world, who)
    assert client.get(f"/notifications/{world.notification}").status_code == status
    response = factories.post(client, f"/notifications/{world.notification}")
    assert response.status_code == (302 if status == 200 else 404)
    with app.app_context():
        notification = db_session.get(Notification, world.notification)
        assert notification is not None
        assert (notification.read_at is not None) is (status == 200)


# --- teaching: the roster, attendance and grading of one's own sessions ---------------------------

# (who, session, status of GET /sessions/<id>/enrolments)
ROSTER_RULES: list[tuple[str, str, int]] = [
    ("instructor", "session_a", 200),
    ("instructor", "session_b", 403),
    ("other_instructor", "session_b", 200),
    ("hr", "session_a", 200),
    ("manager", "session_a", 403),
    ("member", "session_a", 403),
    ("admin", "session_a", 403),
]


@pytest.mark.parametrize(("who", "session_name", "status"), ROSTER_RULES,
                         ids=[f"{w}-{s}" for w, s, _ in ROSTER_RULES])
def test_the_roster_of_a_session(app: Flask, world: World, who: str, session_name: str, status: int) -> None:
    client = signed_in(app, world, who)
    assert client.get(f"/sessions/{getattr(world, session_name)}/enrolments").status_code == status


# (who, meeting, status of the attendance pages of a meeting)
ATTENDANCE_RULES: list[tuple[str, str, int]] = [
    ("instructor", "meeting_a", 200),
    ("instructor", "meeting_b", 403),
    ("other_instructor", "meeting_b", 200),
    ("hr", "meeting_a", 200),
    ("member", "meeting_a", 403),
    ("manager", "meeting_a", 403),
]


@pytest.mark.parametrize(("who", "meeting_name", "status"), ATTENDANCE_RULES,
                         ids=[f"{w}-{m}" for w, m, _ in ATTENDANCE_RULES])
def test_taking_attendance(app: Flask, world: World, who: str, meeting_name: str, status: int) -> None:
    meeting_id = getattr(world, meeting_name)
    client = signed_in(app, world, who)
    for page in ("", "/check-in-screen", "/code.json", "/qr.svg"):
        assert client.get(f"/attendance/meetings/{meeting_id}{page}").status_code == status, page
    response = factories.post(client, f"/attendance/meetings/{meeting_id}", {"action": "all_present"})
    assert response.status_code == (302 if status == 200 else 403)
    if meeting_name == "meeting_a" and status == 403:
        with app.app_context():
            assert db_session.scalar(select(AttendanceMark.id).where(AttendanceMark.meeting_id == meeting_id)) is None


def test_the_teaching_page_lists_only_ones_own_meetings(app: Flask, world: World) -> None:
    a, b = f"/attendance/meetings/{world.meeting_a}\"", f"/attendance/meetings/{world.meeting_b}\""
    for who, sees_a, sees_b in (("instructor", True, False), ("other_instructor", False, True),
                                ("hr", True, True), ("member", False, False)):
        page = signed_in(app, world, who).get("/attendance/teaching").get_data(as_text=True)
        assert (a in page, b in page) == (sees_a, sees_b), who


# (who, status of GET /grading/attempts/<member's attempt in A>)
GRADING_RULES: list[tuple[str, int]] = [
    ("instructor", 200),
    ("hr", 200),
    ("other_instructor", 403),
    ("member", 403),
    ("manager", 403),
    ("admin", 403),
]


@pytest.mark.parametrize(("who", "status"), GRADING_RULES, ids=[w for w, _ in GRADING_RULES])
def test_grading_an_attempt(app: Flask, world: World, who: str, status: int) -> None:
    client = signed_in(app, world, who)
    assert client.get(f"/grading/attempts/{world.attempt}").status_code == status
    if status == 200 or who == "other_instructor":
        listed = f'href="/grading/attempts/{world.attempt}"' in client.get("/grading").get_data(as_text=True)
        assert listed is (status == 200)


# --- a person's record and transcript -------------------------------------------------------------

# (who, whose, status of the transcript, its CSV and the staff record)
TRANSCRIPT_RULES: list[tuple[str, str, int]] = [
    ("member", "member", 200),
    ("stranger", "member", 403),
    ("manager", "member", 200),  # their team member
    ("manager", "stranger", 403),  # not in their subtree
    ("other_manager", "member", 403),
    ("hr", "member", 200),
    ("admin", "member", 200),
    ("instructor", "member", 403),
]


@pytest.mark.parametrize(("who", "whose", "status"), TRANSCRIPT_RULES,
                         ids=[f"{w}-{o}" for w, o, _ in TRANSCRIPT_RULES])
def test_a_persons_transcript(app: Flask, world: World, who: str, whose: str, status: int) -> None:
    client = signed_in(app, world, who)
    target = world.id(whose)
    assert client.get(f"/staff/{target}/transcript").status_code == status
    assert client.get(f"/staff/{target}/transcript.csv").status_code == status
    assert client.get(f"/org/staff/{target}").status_code == status


def test_a_missing_person_is_a_404_for_everyone(app: Flask, world: World) -> None:
    for who in ("member", "hr"):
        client = signed_in(app, world, who)
        assert client.get("/staff/2000000000/transcript").status_code == 404
        assert client.get("/org/staff/2000000000").status_code == 404


# --- the catalog and the team page ----------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("member", 404), ("manager", 404), ("hr", 200)])
def test_a_draft_course_page(app: Flask, world: World, who: str, status: int) -> None:
    assert signed_in(app, world, who).get(f"/catalog/courses/{world.draft_course}").status_code == status


def test_the_team_page_narrows_to_units_of_ones_own_subtree_only(app: Flask, world: World) -> None:
    client = signed_in(app, world, "manager")
    assert client.get(f"/team?unit={world.division_id}").status_code == 200
    assert client.get(f"/team?unit={world.elsewhere_id}").status_code == 403
    assert client.get("/team?unit=2000000000").status_code == 403
    hr = signed_in(app, world, "hr")  # HR: any unit, one at a time (an unknown one is still refused)
    assert hr.get(f"/team?unit={world.elsewhere_id}").status_code == 200
    assert hr.get("/team?unit=2000000000").status_code == 403


# --- the predicates themselves --------------------------------------------------------------------


@pytest.fixture
def judge(app: Flask, world: World) -> Any:
    """An app context with everyone of the world loaded, as {name: Employee}."""
    with app.test_request_context():
        yield {name: db_session.get(Employee, world.id(name)) for name in PEOPLE}


def test_enrolment_predicates(world: World, judge: dict[str, Employee]) -> None:
    confirmed = db_session.get(Enrolment, world.confirmed)
    pending = db_session.get(Enrolment, world.pending)
    hr_pending = db_session.get(Enrolment, world.hr_pending)
    assert confirmed is not None and pending is not None and hr_pending is not None
    member, manager, hr, stranger = (judge[n] for n in ("member", "manager", "hr", "stranger"))

    assert [permissions.can_view_enrolment(judge[n], confirmed) for n in PEOPLE] == [
        True, True, False, False, False, False, True, True]
    assert [permissions.can_override_enrolment_rules(judge[n]) for n in PEOPLE] == [
        False, False, False, False, False, False, True, False]

    assert permissions.can_approve_as_manager(manager, member)
    assert permissions.can_approve_as_manager(hr, member)
    assert not permissions.can_approve_as_manager(member, member)
    assert not permissions.can_approve_as_manager(judge["other_manager"], member)
    assert not permissions.can_approve_as_manager(hr, hr)
    assert permissions.can_approve_as_training_staff(hr, member)
    assert not permissions.can_approve_as_training_staff(hr, hr)
    assert not permissions.can_approve_as_training_staff(manager, member)

    assert permissions.can_decide_enrolment(manager, pending)
    assert permissions.can_decide_enrolment(hr, pending)
    assert not permissions.can_decide_enrolment(member, pending)
    assert not permissions.can_decide_enrolment(stranger, pending)
    assert not permissions.can_decide_enrolment(hr, hr_pending)  # their own
    assert not permissions.can_decide_enrolment(manager, hr_pending)  # HR's stage
    assert not permissions.can_decide_enrolment(hr, confirmed)  # nothing left to decide

    for name, allowed in (("member", True), ("manager", True), ("hr", True), ("admin", False), ("stranger", False)):
        assert permissions.can_cancel_enrolment(judge[name], confirmed) is allowed, name
    with db_session.no_autoflush:  # changed in memory only, to ask the predicate about other moments
        confirmed.training_session.cancellation_deadline_at = now() - timedelta(minutes=1)
        assert not permissions.can_cancel_enrolment(member, confirmed)
        assert not permissions.can_cancel_enrolment(manager, confirmed)
        assert permissions.can_cancel_enrolment(hr, confirmed)  # HR at any time
        confirmed.state = EnrolmentState.CANCELLED
        assert not permissions.can_cancel_enrolment(hr, confirmed)  # nothing live to cancel
    db_session.rollback()


def test_teaching_predicates(world: World, judge: dict[str, Employee]) -> None:
    session_a = db_session.get(TrainingSession, world.session_a)
    meeting_b = db_session.get(Meeting, world.meeting_b)
    attempt = db_session.get(QuizAttempt, world.attempt)
    assert session_a is not None and meeting_b is not None and attempt is not None
    instructor, other_instructor, hr, member = (judge[n] for n in ("instructor", "other_instructor", "hr", "member"))

    assert permissions.is_session_instructor(instructor, session_a)
    assert not permissions.is_session_instructor(other_instructor, session_a)
    assert not permissions.is_session_instructor(hr, session_a)
    assert [permissions.can_view_roster(judge[n], session_a) for n in PEOPLE] == [
        False, False, False, False, True, False, True, False]
    assert [permissions.can_mark_attendance(judge[n], meeting_b) for n in PEOPLE] == [
        False, False, False, False, False, True, True, False]
    assert [permissions.can_grade_attempt(judge[n], attempt) for n in PEOPLE] == [
        False, False, False, False, True, False, True, False]
    assert not permissions.can_grade_attempt(member, attempt)


def test_query_scopes_agree_with_the_predicates(world: World, judge: dict[str, Employee]) -> None:
    def sessions(name: str) -> set[int]:
        ids = db_session.scalars(select(TrainingSession.id).where(
            TrainingSession.id.in_([world.session_a, world.session_b]),
            permissions.attendance_session_filter(judge[name])))
        return set(ids)

    assert sessions("instructor") == {world.session_a}
    assert sessions("other_instructor") == {world.session_b}
    assert sessions("hr") == {world.session_a, world.session_b}
    assert sessions("member") == set()

    def gradable(name: str) -> list[int]:
        return list(db_session.scalars(select(QuizAttempt.id).where(
            QuizAttempt.id == world.attempt, permissions.gradable_attempt_filter(judge[name]))))

    for name in PEOPLE:
        attempt = db_session.get(QuizAttempt, world.attempt)
        assert attempt is not None
        assert (gradable(name) == [world.attempt]) is permissions.can_grade_attempt(judge[name], attempt), name

    def awaiting(name: str) -> set[int]:
        return set(db_session.scalars(select(Enrolment.id).where(
            Enrolment.id.in_([world.confirmed, world.pending, world.hr_pending]),
            permissions.awaiting_decision_filter(judge[name]))))

    assert awaiting("manager") == {world.pending}
    assert awaiting("hr") == set()  # the manager's stage is the manager's; HR's own request is a colleague's
    assert awaiting("other_manager") == set()
    assert awaiting("member") == set()
    colleague = factories.employee(roles=(RoleName.HR,))
    with_colleague = set(db_session.scalars(select(Enrolment.id).where(
        Enrolment.id.in_([world.pending, world.hr_pending]), permissions.awaiting_decision_filter(colleague))))
    assert with_colleague == {world.hr_pending}


def test_own_things_catalog_and_team_predicates(world: World, judge: dict[str, Employee]) -> None:
    notification = db_session.get(Notification, world.notification)
    assert notification is not None
    assert [permissions.can_read_notification(judge[n], notification) for n in PEOPLE] == [
        True, False, False, False, False, False, False, False]

    from app.catalog.queries import course_by_code

    draft = course_by_code(world.draft_course)
    assert draft is not None
    assert not permissions.can_view_course(judge["member"], draft)
    assert permissions.can_view_course(judge["hr"], draft)
    published = db_session.get(Enrolment, world.confirmed).course  # type: ignore[union-attr]
    assert permissions.can_view_course(judge["member"], published)

    assert permissions.can_view_team_unit(judge["manager"], world.division_id)
    assert not permissions.can_view_team_unit(judge["manager"], world.elsewhere_id)
    assert not permissions.can_view_team_unit(judge["manager"], 2_000_000_000)
    assert permissions.can_view_team_unit(judge["hr"], world.division_id)  # HR: any unit of the prefecture
    assert permissions.can_view_team_unit(judge["hr"], world.elsewhere_id)
    assert not permissions.can_view_team_unit(judge["hr"], 2_000_000_000)  # no such unit
    assert not permissions.can_view_team_unit(judge["member"], world.division_id)
    roots = {unit.id for unit in permissions.team_unit_roots(judge["hr"])}
    assert roots and roots == set(db_session.scalars(select(Unit.id).where(Unit.parent_id.is_(None))))
    assert [u.id for u in permissions.team_unit_roots(judge["manager"])] == [world.division_id]


def test_viewable_employee_or_abort(world: World, judge: dict[str, Employee]) -> None:
    member_id = world.id("member")
    assert permissions.viewable_employee_or_abort(judge["member"], member_id).id == member_id
    assert permissions.viewable_employee_or_abort(judge["manager"], member_id).id == member_id
    with pytest.raises(Forbidden):
        permissions.viewable_employee_or_abort(judge["stranger"], member_id)
    with pytest.raises(NotFound):
        permissions.viewable_employee_or_abort(judge["hr"], 2_000_000_000)
