"""The database itself keeps the seat invariant (migration 5e47a2c9d1f0), on both backends:
the session's counter follows the enrolments that hold a seat, never exceeds the capacity, and a
counter written by hand that disagrees with the rows is refused. A future bug fails loudly
instead of overbooking."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentEvent, EnrolmentState
from app.enrollment.services import EnrolmentError, cancel, decline
from app.scheduling.models import TrainingSession
from tests import factories


def _counter(session_id: int) -> int:
    return db_session.scalar(select(TrainingSession.seats_taken).where(TrainingSession.id == session_id))


def _holders(session_id: int) -> int:
    return db_session.scalar(select(func.count()).select_from(Enrolment).where(
        Enrolment.session_id == session_id, Enrolment.holds_seat.is_(True)))


def _check_deferred_constraints() -> None:
    """PostgreSQL checks the counter at commit; the test transaction never commits, so ask now."""
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


def test_the_counter_follows_every_seat_taken_and_freed(ctx) -> None:  # type: ignore[no-untyped-def]
    division = factories.unit("座席検証課")
    people = [factories.employee(division) for _ in range(4)]
    session = factories.training_session(factories.course(), capacity=2)
    places = [factories.enrolment(person, session) for person in people]
    assert [p.state for p in places] == [EnrolmentState.CONFIRMED] * 2 + [EnrolmentState.WAITLISTED] * 2
    assert _counter(session.id) == _holders(session.id) == 2

    cancel(people[0], places[0], "都合")  # frees a seat; the first waiting person takes it
    db_session.commit()
    _check_deferred_constraints()
    assert _counter(session.id) == _holders(session.id) == 2
    db_session.refresh(places[2])
    assert places[2].state == EnrolmentState.CONFIRMED and places[2].holds_seat


def test_cancelling_twice_frees_one_seat_once(ctx) -> None:  # type: ignore[no-untyped-def]
    division = factories.unit("二重取消課")
    people = [factories.employee(division) for _ in range(3)]
    session = factories.training_session(factories.course(), capacity=1)
    first, second, third = (factories.enrolment(person, session) for person in people)

    cancel(people[0], first, "")
    with pytest.raises(EnrolmentError, match=r"already been cancelled|すでにキャンセル"):
        cancel(people[0], first, "")  # the second click of a double click
    db_session.commit()
    _check_deferred_constraints()
    db_session.refresh(second)
    db_session.refresh(third)
    assert second.state == EnrolmentState.CONFIRMED and third.state == EnrolmentState.WAITLISTED
    assert _counter(session.id) == _holders(session.id) == 1
    cancelled = db_session.scalar(select(func.count()).select_from(EnrolmentEvent).where(
        EnrolmentEvent.enrolment_id == first.id, EnrolmentEvent.to_state == "cancelled"))
    assert cancelled == 1


def test_declining_a_withdrawn_request_says_so(ctx) -> None:  # type: ignore[no-untyped-def]
    division = factories.unit("取下げ検証課")
    manager = factories.employee(division, "KACHO", heads=division)
    person = factories.employee(division)
    session = factories.training_session(factories.course(), capacity=3, policy="manager")
    request = factories.enrolment(person, session, override=True)
    assert request.state == EnrolmentState.PENDING and request.holds_seat
    cancel(person, request, "取下げ")
    db_session.commit()
    with pytest.raises(EnrolmentError, match=r"was withdrawn|取り下げられました"):
        decline(manager, request, "定員調整")
    assert _counter(session.id) == _holders(session.id) == 0


def test_a_counter_written_by_hand_that_disagrees_with_the_rows_is_refused(ctx) -> None:  # type: ignore[no-untyped-def]
    person = factories.employee(factories.unit("不正書込課"))
    session = factories.training_session(factories.course(), capacity=5)
    factories.enrolment(person, session)
    with pytest.raises(IntegrityError, match="seat counter mismatch"):
        with db_session.begin_nested():
            db_session.execute(update(TrainingSession).where(TrainingSession.id == session.id)
                               .values(seats_taken=TrainingSession.seats_taken + 1))
            _check_deferred_constraints()
    assert _counter(session.id) == _holders(session.id) == 1


def test_a_seat_given_beyond_capacity_is_refused_by_the_database(ctx) -> None:  # type: ignore[no-untyped-def]
    division = factories.unit("定員超過課")
    people = [factories.employee(division) for _ in range(2)]
    session = factories.training_session(factories.course(), capacity=1)
    factories.enrolment(people[0], session)
    waiting = factories.enrolment(people[1], session)
    assert waiting.state == EnrolmentState.WAITLISTED
    with pytest.raises(IntegrityError):  # a bug that skipped the seat check would overbook
        with db_session.begin_nested():
            db_session.execute(update(Enrolment).where(Enrolment.id == waiting.id)
                               .values(state=EnrolmentState.CONFIRMED, holds_seat=True))
    assert _counter(session.id) == _holders(session.id) == 1


def test_a_new_session_cannot_start_with_seats_taken(ctx) -> None:  # type: ignore[no-untyped-def]
    session = factories.training_session(factories.course(), capacity=5)
    values = {c.key: getattr(session, c.key) for c in TrainingSession.__table__.columns if c.key != "id"}
    with pytest.raises(IntegrityError, match="seat counter mismatch"):
        with db_session.begin_nested():
            db_session.execute(TrainingSession.__table__.insert().values({**values, "seats_taken": 3}))
            _check_deferred_constraints()
