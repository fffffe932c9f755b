"""Self check-in with the rotating code, through the page the QR code opens
(POST /attendance/check-in/<meeting_id>). Meetings must be "now" for check-in, so every test
travels in time to a moment around the meeting made by the factory."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.attendance.checkin_codes import current_code
from app.attendance.models import AttendanceMark, AttendanceStatus, MarkSource
from app.attendance.services import AttendanceError, check_in
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories

WRONG_REFUSAL = "コードが違うか、有効期限が切れています"
LOCKED_REFUSAL = "コードの誤りが続いたため"
ALREADY_REFUSAL = "既に出席登録済みです。"
NOT_ENROLLED_REFUSAL = "あなたはこの日程の受講者ではありません。"
WINDOW_REFUSAL = "出席登録は開始30分前から終了時刻までです。"


@pytest.fixture
def setup(app):
    with app.app_context():
        division = factories.unit("出席確認課")
        instructor = factories.employee(division, "SHUSA", roles=(RoleName.INSTRUCTOR,))
        participant = factories.employee(division, "SHUNIN")
        colleague = factories.employee(division, "SHUNIN")
        outsider = factories.employee(division, "SHUNIN")
        course = factories.course(title_ja="出席登録の研修")
        session = factories.training_session(course, starts_in=timedelta(days=3), meetings=2, hours=3,
                                             instructors=[instructor])
        enrolments = {p.id: factories.enrolment(p, session).id for p in (participant, colleague)}
        meetings = [(m.id, m.starts_at, m.ends_at) for m in session.meetings]
    return {"participant": participant, "colleague": colleague, "outsider": outsider, "instructor": instructor,
            "enrolments": enrolments, "meetings": meetings}


def code_at(app, meeting_id: int, at: datetime) -> str:
    return current_code(app.config["SECRET_KEY"], meeting_id, at)[0]


def wrong_code(app, meeting_id: int, at: datetime) -> str:
    valid = {code_at(app, meeting_id, at), code_at(app, meeting_id, at - timedelta(seconds=60))}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


def post_code(client, meeting_id: int, code: str):  # type: ignore[no-untyped-def]
    path = f"/attendance/check-in/{meeting_id}"
    return factories.post(client, path, {"code": code}, form_page=path)


def marks_of(app, enrolment_id: int) -> list[AttendanceMark]:
    with app.app_context():
        return list(db_session.scalars(select(AttendanceMark).where(AttendanceMark.enrolment_id == enrolment_id)))


def signed_in(app, person):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, person)
    return client


@pytest.mark.parametrize(("offset", "expected"), [
    (timedelta(minutes=-30), AttendanceStatus.PRESENT),  # the window opens 30 minutes before
    (timedelta(minutes=5), AttendanceStatus.PRESENT),
    (timedelta(minutes=15), AttendanceStatus.PRESENT),  # 15 minutes in is still on time
    (timedelta(minutes=16), AttendanceStatus.LATE),
    (timedelta(hours=3), AttendanceStatus.LATE),  # until the very end
])
def test_checking_in_with_the_current_code_marks_present_or_late(app, setup, offset, expected):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    at = starts_at + offset
    with time_machine.travel(at, tick=False):
        client = signed_in(app, setup["participant"])
        page = client.get(f"/attendance/check-in/{meeting_id}")
        assert page.status_code == 200 and "出席登録の研修" in page.get_data(as_text=True)
        response = post_code(client, meeting_id, code_at(app, meeting_id, at))
        assert response.status_code == 302 and response.headers["Location"] == "/my-learning"
        assert "出席を登録しました" in client.get("/my-learning").get_data(as_text=True)
    [mark] = marks_of(app, setup["enrolments"][setup["participant"].id])
    assert (mark.meeting_id, mark.status, mark.source) == (meeting_id, expected, MarkSource.CHECK_IN)
    assert mark.marked_by_id == setup["participant"].id and mark.marked_at == at
    assert marks_of(app, setup["enrolments"][setup["colleague"].id]) == []


def test_the_previous_minutes_code_is_accepted_but_one_from_two_minutes_ago_is_expired(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    enrolment_id = setup["enrolments"][setup["participant"].id]
    shown_at = starts_at + timedelta(minutes=3, seconds=10)
    stale = code_at(app, meeting_id, shown_at)
    two_minutes_later = shown_at + timedelta(minutes=2)
    with time_machine.travel(two_minutes_later, tick=False):
        client = signed_in(app, setup["participant"])
        if stale not in {code_at(app, meeting_id, two_minutes_later),
                         code_at(app, meeting_id, two_minutes_later - timedelta(seconds=60))}:
            response = post_code(client, meeting_id, stale)
            assert response.status_code == 400
            assert WRONG_REFUSAL in response.get_data(as_text=True)
        assert marks_of(app, enrolment_id) == []
        # the code of one minute ago is still good (for slow typists)
        slow = code_at(app, meeting_id, two_minutes_later - timedelta(seconds=60))
        assert post_code(client, meeting_id, slow).status_code == 302
    assert [m.status for m in marks_of(app, enrolment_id)] == [AttendanceStatus.PRESENT]


def test_expired_code_is_refused_by_the_service(ctx, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    from app.scheduling.models import Meeting

    meeting = db_session.get(Meeting, meeting_id)
    at = starts_at + timedelta(minutes=10)
    for age in (timedelta(minutes=2), timedelta(minutes=3), timedelta(minutes=30)):
        old = code_at(ctx, meeting_id, at - age)
        if old in {code_at(ctx, meeting_id, at), code_at(ctx, meeting_id, at - timedelta(seconds=60))}:
            continue  # a one-in-a-million collision of six digits
        with time_machine.travel(at, tick=False), pytest.raises(AttendanceError, match=WRONG_REFUSAL):
            check_in(setup["participant"], meeting, old, ctx.config["SECRET_KEY"])


def test_the_code_of_another_meeting_is_refused(app, setup):
    (first_id, starts_at, _), (second_id, _, _) = setup["meetings"]
    at = starts_at + timedelta(minutes=2)
    with time_machine.travel(at, tick=False):
        client = signed_in(app, setup["participant"])
        other = code_at(app, second_id, at)
        assert other != code_at(app, first_id, at)
        response = post_code(client, first_id, other)
        assert response.status_code == 400 and WRONG_REFUSAL in response.get_data(as_text=True)
    assert marks_of(app, setup["enrolments"][setup["participant"].id]) == []


def test_a_second_check_in_is_refused_and_leaves_one_mark(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    enrolment_id = setup["enrolments"][setup["participant"].id]
    first = starts_at + timedelta(minutes=1)
    with time_machine.travel(first, tick=False):
        client = signed_in(app, setup["participant"])
        assert post_code(client, meeting_id, code_at(app, meeting_id, first)).status_code == 302
    again = starts_at + timedelta(minutes=40)  # would be "late" if it counted
    with time_machine.travel(again, tick=False):
        for _ in range(2):  # told so on My learning, where a check-in leads anyway
            response = post_code(client, meeting_id, code_at(app, meeting_id, again))
            assert response.status_code == 302 and response.headers["Location"] == "/my-learning"
            assert ALREADY_REFUSAL in client.get("/my-learning").get_data(as_text=True)
    [mark] = marks_of(app, enrolment_id)
    assert mark.status == AttendanceStatus.PRESENT and mark.marked_at == first
    with app.app_context():
        from app.audit.models import AuditEvent

        audits = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "attendance.marked",
                                                             AuditEvent.target_id == f"{enrolment_id}:{meeting_id}"))
        assert len(audits.all()) == 1


def test_someone_marked_absent_can_still_check_in_on_arrival(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    enrolment_id = setup["enrolments"][setup["participant"].id]
    at = starts_at + timedelta(minutes=25)
    with time_machine.travel(at, tick=False):
        instructor = signed_in(app, setup["instructor"])
        roster = f"/attendance/meetings/{meeting_id}"
        response = factories.post(instructor, roster, {f"status-{enrolment_id}": "absent"}, form_page=roster)
        assert response.status_code == 302
        client = signed_in(app, setup["participant"])
        assert post_code(client, meeting_id, code_at(app, meeting_id, at)).status_code == 302
    [mark] = marks_of(app, enrolment_id)
    assert (mark.status, mark.source) == (AttendanceStatus.LATE, MarkSource.CHECK_IN)


def test_five_wrong_codes_lock_check_in_for_ten_minutes(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    enrolment_id = setup["enrolments"][setup["participant"].id]
    first_guess = starts_at + timedelta(minutes=1)
    with time_machine.travel(first_guess, tick=False):
        client = signed_in(app, setup["participant"])
        for _ in range(5):
            response = post_code(client, meeting_id, wrong_code(app, meeting_id, first_guess))
            assert response.status_code == 400 and WRONG_REFUSAL in response.get_data(as_text=True)
        response = post_code(client, meeting_id, code_at(app, meeting_id, first_guess))
        assert response.status_code == 400 and LOCKED_REFUSAL in response.get_data(as_text=True)
        # the lock is per person and meeting: a colleague in the same room is not held up
        colleague = signed_in(app, setup["colleague"])
        assert post_code(colleague, meeting_id, code_at(app, meeting_id, first_guess)).status_code == 302
    still_locked = first_guess + timedelta(minutes=9, seconds=59)
    with time_machine.travel(still_locked, tick=False):
        response = post_code(client, meeting_id, code_at(app, meeting_id, still_locked))
        assert response.status_code == 400 and LOCKED_REFUSAL in response.get_data(as_text=True)
    assert marks_of(app, enrolment_id) == []
    unlocked = first_guess + timedelta(minutes=10)
    with time_machine.travel(unlocked, tick=False):
        assert post_code(client, meeting_id, code_at(app, meeting_id, unlocked)).status_code == 302
    assert [m.status for m in marks_of(app, enrolment_id)] == [AttendanceStatus.PRESENT]


def test_the_lock_lasts_ten_minutes_from_the_fifth_wrong_code_not_the_first(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    first_guess = starts_at + timedelta(minutes=1)
    fifth_guess = first_guess + timedelta(minutes=9)
    with time_machine.travel(first_guess, tick=False):
        client = signed_in(app, setup["participant"])
        for _ in range(4):
            assert post_code(client, meeting_id, wrong_code(app, meeting_id, first_guess)).status_code == 400
    with time_machine.travel(fifth_guess, tick=False):
        assert post_code(client, meeting_id, wrong_code(app, meeting_id, fifth_guess)).status_code == 400
    a_window_after_the_first = first_guess + timedelta(minutes=11)
    with time_machine.travel(a_window_after_the_first, tick=False):
        response = post_code(client, meeting_id, code_at(app, meeting_id, a_window_after_the_first))
        assert response.status_code == 400 and LOCKED_REFUSAL in response.get_data(as_text=True)
    unlocked = fifth_guess + timedelta(minutes=10)
    with time_machine.travel(unlocked, tick=False):
        assert post_code(client, meeting_id, code_at(app, meeting_id, unlocked)).status_code == 302


def test_four_wrong_codes_do_not_lock(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    at = starts_at + timedelta(minutes=1)
    with time_machine.travel(at, tick=False):
        client = signed_in(app, setup["participant"])
        for _ in range(4):
            assert post_code(client, meeting_id, wrong_code(app, meeting_id, at)).status_code == 400
        assert post_code(client, meeting_id, code_at(app, meeting_id, at)).status_code == 302


def test_a_person_not_enrolled_is_refused(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    at = starts_at + timedelta(minutes=1)
    with time_machine.travel(at, tick=False):
        client = signed_in(app, setup["outsider"])
        response = post_code(client, meeting_id, code_at(app, meeting_id, at))
        assert response.status_code == 400 and NOT_ENROLLED_REFUSAL in response.get_data(as_text=True)
    with app.app_context():
        assert db_session.scalars(select(AttendanceMark)).all() == []


def test_a_cancelled_enrolment_cannot_check_in(app, setup):
    from app.enrollment.models import Enrolment
    from app.enrollment.services import cancel

    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    enrolment_id = setup["enrolments"][setup["participant"].id]
    with app.app_context():
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        cancel(hr, db_session.get(Enrolment, enrolment_id), "業務のため")
        db_session.commit()
    at = starts_at + timedelta(minutes=1)
    with time_machine.travel(at, tick=False):
        client = signed_in(app, setup["participant"])
        response = post_code(client, meeting_id, code_at(app, meeting_id, at))
        assert response.status_code == 400 and NOT_ENROLLED_REFUSAL in response.get_data(as_text=True)
    assert marks_of(app, enrolment_id) == []


@pytest.mark.parametrize("when", ["too_early", "after_the_end", "next_day", "day_before"])
def test_check_in_outside_the_window_is_refused(app, setup, when):
    meeting_id, starts_at, ends_at = setup["meetings"][0]
    at = {"too_early": starts_at - timedelta(minutes=31), "after_the_end": ends_at + timedelta(minutes=1),
          "next_day": starts_at + timedelta(days=1), "day_before": starts_at - timedelta(days=1)}[when]
    with time_machine.travel(at, tick=False):
        client = signed_in(app, setup["participant"])
        response = post_code(client, meeting_id, code_at(app, meeting_id, at))
        assert response.status_code == 400 and WINDOW_REFUSAL in response.get_data(as_text=True)
    assert marks_of(app, setup["enrolments"][setup["participant"].id]) == []


def test_an_empty_code_is_refused_without_counting_as_a_guess(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    at = starts_at + timedelta(minutes=1)
    with time_machine.travel(at, tick=False):
        client = signed_in(app, setup["participant"])
        for _ in range(6):
            response = post_code(client, meeting_id, "")
            assert response.status_code == 400
            assert "画面に表示されているコードを入力してください" in response.get_data(as_text=True)
        assert post_code(client, meeting_id, code_at(app, meeting_id, at)).status_code == 302


def test_the_code_screen_is_for_the_instructor_not_the_participant(app, setup):
    meeting_id, starts_at, _ends_at = setup["meetings"][0]
    at = starts_at - timedelta(minutes=5)
    with time_machine.travel(at, tick=False):
        participant = signed_in(app, setup["participant"])
        assert participant.get(f"/attendance/meetings/{meeting_id}/code.json").status_code == 403
        assert participant.get(f"/attendance/meetings/{meeting_id}/check-in-screen").status_code == 403
        instructor = signed_in(app, setup["instructor"])
        shown = instructor.get(f"/attendance/meetings/{meeting_id}/code.json")
        assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
        assert shown.get_json()["code"] == code_at(app, meeting_id, at)
        assert post_code(participant, meeting_id, shown.get_json()["code"]).status_code == 302
        assert instructor.get(f"/attendance/meetings/{meeting_id}/code.json").get_json()["present"] == 1
