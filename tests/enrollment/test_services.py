"""Enrolment rules, approvals and the waitlist, at the service level."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.core.clock import now
from app.core.db import db_session
from app.enrollment import queries
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentEvent, EnrolmentState
from app.enrollment.services import (
    DEFAULT_POLICY,
    EnrolmentError,
    approve,
    cancel,
    decline,
    enrol,
    promote_by_hand,
)
from app.org.models import RoleName
from app.scheduling.models import ApprovalPolicy, TrainingSession
from app.scheduling.services import SessionDetails, cancel_session, update_session
from tests import factories


@pytest.fixture
def team(ctx):
    department = factories.unit("デジタル推進局")
    division = factories.unit("データ活用推進課", parent=department)
    return {
        "department": department,
        "division": division,
        "dept_head": factories.employee(department, "BUCHO", heads=department),
        "manager": factories.employee(division, "KACHO", heads=division),
        "staff": [factories.employee(division, "SHUNIN") for _ in range(5)],
        "hr": factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,)),
    }


def seat_count(session_id: int) -> int:
    return db_session.scalar(select(TrainingSession.seats_taken).where(TrainingSession.id == session_id))


def details_of(session: TrainingSession, **changes: object) -> SessionDetails:
    values = {k: getattr(session, k) for k in ("label", "location", "online_url", "capacity", "enrolment_opens_at",
                                                 "enrolment_closes_at", "cancellation_deadline_at", "approval_policy",
                                                 "notes")}
    values.update(changes)
    return SessionDetails(**values)  # type: ignore[arg-type]


def meetings_of(session: TrainingSession) -> list[tuple]:
    return [(m.starts_at, m.ends_at) for m in session.meetings]


# --- rules -----------------------------------------------------------------------------------


def test_enrolment_rules_are_explained(team):
    staff = team["staff"][0]
    course = factories.course(grades=("KACHO",))
    session = factories.training_session(course)
    with pytest.raises(EnrolmentError, match="職級の対象ではありません"):
        enrol(staff, staff, session)
    closed = factories.training_session(factories.course(), closes_before=timedelta(days=20),
                                        starts_in=timedelta(days=10), opens_ago=timedelta(days=30))
    with pytest.raises(EnrolmentError, match="締め切りました"):
        enrol(staff, staff, closed)
    first = factories.course(code="PRE-1")
    needs_first = factories.course(prerequisites=("PRE-1",))
    with pytest.raises(EnrolmentError, match="先に"):
        enrol(staff, staff, factories.training_session(needs_first))
    assert enrol(staff, staff, factories.training_session(needs_first), completed_course_ids={first.id}).enrolment


def test_hr_may_override_the_rules(team):
    staff, hr = team["staff"][0], team["hr"]
    session = factories.training_session(factories.course(grades=("KACHO",)))
    result = enrol(hr, staff, session, override_rules=True)
    assert result.enrolment.state == EnrolmentState.CONFIRMED


def test_one_live_enrolment_per_course(team):
    staff = team["staff"][0]
    course = factories.course()
    first, second = factories.training_session(course), factories.training_session(course, starts_in=timedelta(days=30))
    enrol(staff, staff, first)
    with pytest.raises(EnrolmentError, match="既に申し込んでいます"):
        enrol(staff, staff, second)


def test_overlap_gives_a_warning_not_a_refusal(team):
    staff = team["staff"][0]
    one = factories.training_session(factories.course())
    other = factories.training_session(factories.course())
    enrol(staff, staff, one)
    result = enrol(staff, staff, other)
    assert result.enrolment.state == EnrolmentState.CONFIRMED
    assert result.warnings and "重なっています" in result.warnings[0]


# --- seats and the waitlist ------------------------------------------------------------------


def test_full_session_waitlists_in_order_and_cancellation_promotes_the_first(team):
    session = factories.training_session(factories.course(), capacity=2)
    a, b, c, d, e = team["staff"]
    for person in (a, b, c, d, e):
        enrol(person, person, session)
    states = {x.employee_id: x for x in db_session.scalars(select(Enrolment))}
    assert [states[p.id].state for p in (a, b)] == [EnrolmentState.CONFIRMED] * 2
    assert [queries.positions(session.id)[states[p.id].id] for p in (c, d, e)] == [1, 2, 3]
    cancel(a, states[a.id], "都合がつかなくなった")
    assert states[c.id].state == EnrolmentState.CONFIRMED and states[c.id].holds_seat
    assert [queries.positions(session.id)[states[p.id].id] for p in (d, e)] == [1, 2]
    assert seat_count(session.id) == 2
    history = db_session.scalars(select(EnrolmentEvent.to_state).where(EnrolmentEvent.enrolment_id == states[c.id].id)
                                 .order_by(EnrolmentEvent.id)).all()
    assert history == ["waitlisted", "confirmed"]


def test_capacity_increase_promotes_as_many_as_fit(team):
    session = factories.training_session(factories.course(), capacity=1)
    for person in team["staff"][:4]:
        enrol(person, person, session)
    update_session(team["hr"], session, details_of(session, capacity=3), meetings_of(session), [])
    confirmed = db_session.scalars(select(Enrolment).where(Enrolment.state == EnrolmentState.CONFIRMED)).all()
    assert len(confirmed) == 3 and seat_count(session.id) == 3


def test_capacity_cannot_drop_below_seats_taken(team):
    from app.scheduling.services import SchedulingError

    session = factories.training_session(factories.course(), capacity=3)
    for person in team["staff"][:2]:
        enrol(person, person, session)
    with pytest.raises(SchedulingError) as error:
        update_session(team["hr"], session, details_of(session, capacity=1), meetings_of(session), [])
    assert error.value.field == "capacity"


def test_no_automatic_promotion_after_the_cut_off_but_hr_can_by_hand(team):
    session = factories.training_session(factories.course(), capacity=1, starts_in=timedelta(hours=20),
                                         closes_before=timedelta(hours=1), cancel_before=timedelta(hours=1))
    a, b = team["staff"][:2]
    first = enrol(a, a, session).enrolment
    second = enrol(b, b, session).enrolment
    cancel(team["hr"], first, "体調不良", DEFAULT_POLICY)
    assert second.state == EnrolmentState.WAITLISTED and seat_count(session.id) == 0
    promote_by_hand(team["hr"], second)
    assert second.state == EnrolmentState.CONFIRMED and seat_count(session.id) == 1


def test_employee_cannot_cancel_after_the_deadline_but_hr_can(team):
    staff = team["staff"][0]
    session = factories.training_session(factories.course(), starts_in=timedelta(days=5),
                                         cancel_before=timedelta(days=3), closes_before=timedelta(days=3))
    enrolment = enrol(staff, staff, session).enrolment
    with time_machine.travel(now() + timedelta(days=3), tick=False):
        with pytest.raises(EnrolmentError, match="キャンセル期限"):
            cancel(staff, enrolment)
        cancel(team["hr"], enrolment, "人事課で取消")
    assert enrolment.state == EnrolmentState.CANCELLED


def test_cancelled_session_ends_every_place(team):
    session = factories.training_session(factories.course(), capacity=1)
    a, b = team["staff"][:2]
    enrol(a, a, session)
    enrol(b, b, session)
    cancel_session(team["hr"], session, "講師急病のため")
    assert {e.state for e in db_session.scalars(select(Enrolment))} == {EnrolmentState.CANCELLED}
    assert seat_count(session.id) == 0


# --- approvals -------------------------------------------------------------------------------


def test_request_waits_for_the_manager_holding_its_seat(team):
    staff, manager = team["staff"][0], team["manager"]
    session = factories.training_session(factories.course(), capacity=1, policy="manager")
    request = enrol(staff, staff, session).enrolment
    assert request.state == EnrolmentState.PENDING and request.holds_seat
    assert request.approver_id == manager.id and request.approval_stage == ApprovalStage.MANAGER
    # Someone else arriving now is waitlisted: the pending request keeps its seat.
    other = team["staff"][1]
    assert enrol(other, other, session).enrolment.state == EnrolmentState.PENDING
    assert seat_count(session.id) == 1
    approve(manager, request)
    assert request.state == EnrolmentState.CONFIRMED
    assert [r.id for r in queries.approvals_for(manager)] != [request.id]


def test_declining_frees_the_seat_for_the_next_in_line(team):
    a, b = team["staff"][:2]
    session = factories.training_session(factories.course(), capacity=1, policy="manager")
    first = enrol(a, a, session).enrolment
    second = enrol(b, b, session).enrolment
    with pytest.raises(EnrolmentError, match="理由"):
        decline(team["manager"], first, "  ")
    decline(team["manager"], first, "繁忙期のため次回に")
    assert first.state == EnrolmentState.DECLINED and first.end_reason == "繁忙期のため次回に"
    assert second.holds_seat and second.state == EnrolmentState.PENDING  # still needs its own approval


def test_manager_chain_skips_an_empty_head_post(team):
    team["division"].head_id = None
    db_session.flush()
    staff = team["staff"][0]
    session = factories.training_session(factories.course(), policy="manager")
    request = enrol(staff, staff, session).enrolment
    assert request.approver_id == team["dept_head"].id
    assert [r.id for r in queries.approvals_for(team["dept_head"])] == [request.id]


def test_manager_cannot_approve_outside_their_subtree(team):
    outsider_division = factories.unit("水産振興課")
    outsider_manager = factories.employee(outsider_division, "KACHO", heads=outsider_division)
    staff = team["staff"][0]
    request = enrol(staff, staff, factories.training_session(factories.course(), policy="manager")).enrolment
    assert queries.approvals_for(outsider_manager) == []
    with pytest.raises(EnrolmentError):
        approve(outsider_manager, request)
    with pytest.raises(EnrolmentError):
        approve(staff, request)  # nor approve their own request


def test_manager_then_hr(team):
    staff = team["staff"][0]
    request = enrol(staff, staff, factories.training_session(factories.course(), policy="manager_then_hr")).enrolment
    approve(team["manager"], request)
    assert request.state == EnrolmentState.PENDING and request.approval_stage == ApprovalStage.HR
    assert [r.id for r in queries.approvals_for(team["hr"])] == [request.id]
    approve(team["hr"], request)
    assert request.state == EnrolmentState.CONFIRMED


def test_a_second_manager_click_after_forwarding_is_told_it_was_done_not_refused(team):
    staff = team["staff"][0]
    request = enrol(staff, staff, factories.training_session(factories.course(), policy="manager_then_hr")).enrolment
    approve(team["manager"], request)
    for second in (team["manager"], team["dept_head"]):  # the same click again, or the other manager
        with pytest.raises(EnrolmentError, match=r"already been approved by a manager|所属長の承認が済み"):
            approve(second, request)
        with pytest.raises(EnrolmentError, match=r"already been approved by a manager|所属長の承認が済み"):
            decline(second, request, "理由")
    assert request.approval_stage == ApprovalStage.HR and request.state == EnrolmentState.PENDING


def test_hr_never_decides_its_own_request_at_the_hr_stage(team):
    """Issue 14 finding 7: an HR officer's own request, forwarded by their manager, waits for a
    colleague; they neither see it in their approvals nor can approve or decline it."""
    hr_unit = team["hr"].unit
    hr_head = factories.employee(hr_unit, "KACHO", heads=hr_unit)
    colleague = factories.employee(hr_unit, "SHUSA", roles=(RoleName.HR,))
    me = team["hr"]
    request = enrol(me, me, factories.training_session(factories.course(grades=("SHUSA",)),
                                                       policy="manager_then_hr")).enrolment
    approve(hr_head, request)
    assert request.approval_stage == ApprovalStage.HR
    assert request.id not in [r.id for r in queries.approvals_for(me)]
    for decide in (lambda: approve(me, request), lambda: decline(me, request, "自分で却下")):
        with pytest.raises(EnrolmentError):
            decide()
    assert [r.id for r in queries.approvals_for(colleague)] == [request.id]
    approve(colleague, request)
    assert request.state == EnrolmentState.CONFIRMED


def test_on_behalf_by_the_manager_counts_as_their_approval(team):
    staff = team["staff"][0]
    result = enrol(team["manager"], staff, factories.training_session(factories.course(), policy="manager"))
    assert result.enrolment.state == EnrolmentState.CONFIRMED
    assert result.enrolment.requested_by_id == team["manager"].id


def test_every_state_change_is_recorded_with_its_actor(team):
    staff, manager = team["staff"][0], team["manager"]
    request = enrol(staff, staff, factories.training_session(factories.course(), policy="manager")).enrolment
    approve(manager, request)
    cancel(staff, request, "業務都合")
    events = queries.events_of(request.id)
    assert [(e.from_state, e.to_state, e.actor_id) for e in events] == [
        (None, "pending", staff.id), ("pending", "confirmed", manager.id), ("confirmed", "cancelled", staff.id)]


def test_session_policy_enum_roundtrip(team):
    session = factories.training_session(factories.course(), policy="manager_then_hr")
    assert db_session.get(TrainingSession, session.id).approval_policy == ApprovalPolicy.MANAGER_THEN_HR
