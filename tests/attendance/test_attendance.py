"""Taking attendance: the roster (marks, remarks, "mark all present", the audit trail, who may
open it), people who joined late, and the attendance rate on the enrolment page. Web-meeting
participant lists: tests/attendance/test_participant_lists.py."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.attendance.models import AttendanceMark, AttendanceStatus, MarkSource
from app.attendance.services import rate_of
from app.audit.models import AuditEvent
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import RoleName
from app.scheduling.models import Meeting
from tests import factories

NOT_COUNTED = "この回の後に申込：対象外"


@pytest.fixture
def setup(app):
    with app.app_context():
        division = factories.unit("出席管理課")
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        instructor = factories.employee(division, "SHUSA", roles=(RoleName.INSTRUCTOR,))
        other_instructor = factories.employee(division, "SHUSA", roles=(RoleName.INSTRUCTOR,))
        staff = [factories.employee(division, "SHUNIN", name=f"受講 花子{i}", email=f"Hanako.{i}@Pref.example.lg.jp")
                 for i in range(3)]
        course = factories.course(title_ja="出席簿の研修", min_attendance=80)
        session = factories.training_session(course, starts_in=timedelta(days=3), meetings=2, capacity=3,
                                             instructors=[instructor])
        factories.training_session(factories.course(), starts_in=timedelta(days=3), instructors=[other_instructor])
        enrolments = [factories.enrolment(person, session).id for person in staff]
        meetings = [(m.id, m.starts_at, m.ends_at) for m in session.meetings]
    return {"hr": hr, "instructor": instructor, "other_instructor": other_instructor, "staff": staff,
            "enrolments": enrolments, "meetings": meetings, "session": session.id}


def signed_in(app, person):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, person)
    return client


def row_of(page: str, name: str) -> str:
    """The roster's table row of the person with this name."""
    return next(row for row in page.split("<tr>") if f"{name} <span" in row).split("</tr>")[0]


def roster_post(client, meeting_id: int, data: dict):  # type: ignore[no-untyped-def,type-arg]
    path = f"/attendance/meetings/{meeting_id}"
    return factories.post(client, path, data, form_page=path)


def marks(app, meeting_id: int) -> dict[int, AttendanceMark]:
    with app.app_context():
        return {m.enrolment_id: m for m in db_session.scalars(
            select(AttendanceMark).where(AttendanceMark.meeting_id == meeting_id))}


def audits(app) -> list[AuditEvent]:
    with app.app_context():
        return list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "attendance.marked")
                                       .order_by(AuditEvent.id)))


# --- the roster ------------------------------------------------------------------------------


def test_instructor_marks_statuses_and_remarks_and_every_change_is_audited(app, setup):
    meeting_id, starts_at, _ = setup["meetings"][0]
    a, b, c = setup["enrolments"]
    with time_machine.travel(starts_at + timedelta(minutes=30), tick=False):
        client = signed_in(app, setup["instructor"])
        page = client.get(f"/attendance/meetings/{meeting_id}").get_data(as_text=True)
        assert all(f'name="status-{e}"' in page for e in (a, b, c)) and "受講 花子0" in page
        response = roster_post(client, meeting_id, {f"status-{a}": "present", f"status-{b}": "absent",
                                                    f"remark-{b}": "体調不良のため欠席", f"status-{c}": "",
                                                    f"remark-{c}": "未確認"})
        assert response.status_code == 302
    got = marks(app, meeting_id)
    assert set(got) == {a, b}  # "(not marked)" stays unmarked
    assert (got[a].status, got[a].remark, got[a].source) == (AttendanceStatus.PRESENT, "", MarkSource.ROSTER)
    assert (got[b].status, got[b].remark) == (AttendanceStatus.ABSENT, "体調不良のため欠席")
    assert got[a].marked_by_id == setup["instructor"].id
    trail = audits(app)
    assert [(e.target_id, e.before, e.after, e.actor_id) for e in trail] == [
        (f"{a}:{meeting_id}", None, {"status": "present", "remark": "", "source": "roster"}, setup["instructor"].id),
        (f"{b}:{meeting_id}", None, {"status": "absent", "remark": "体調不良のため欠席", "source": "roster"},
         setup["instructor"].id),
    ]

    with time_machine.travel(starts_at + timedelta(minutes=50), tick=False):
        client = signed_in(app, setup["instructor"])
        page = client.get(f"/attendance/meetings/{meeting_id}").get_data(as_text=True)
        assert re.search(r'<option value="absent"\s+selected', row_of(page, "受講 花子1"))
        assert 'value="体調不良のため欠席"' in page
        # b arrived after all; a is unchanged and must not be audited again
        roster_post(client, meeting_id, {f"status-{a}": "present", f"status-{b}": "late",
                                         f"remark-{b}": "50分遅れて到着"})
    got = marks(app, meeting_id)
    assert (got[b].status, got[b].remark) == (AttendanceStatus.LATE, "50分遅れて到着")
    trail = audits(app)
    assert len(trail) == 3
    assert (trail[-1].before, trail[-1].after) == ({"status": "absent", "remark": "体調不良のため欠席"},
                                                   {"status": "late", "remark": "50分遅れて到着", "source": "roster"})


def test_unknown_status_values_are_refused(app, setup):
    """Was "ignored" (a 302 saving nothing); the roster form now answers 400 and names the field
    (see tests/attendance/test_roster_form.py)."""
    meeting_id, starts_at, _ = setup["meetings"][0]
    a = setup["enrolments"][0]
    with time_machine.travel(starts_at + timedelta(minutes=5), tick=False):
        client = signed_in(app, setup["instructor"])
        assert roster_post(client, meeting_id, {f"status-{a}": "teleported"}).status_code == 400
    assert marks(app, meeting_id) == {} and audits(app) == []


def test_mark_all_present_marks_only_those_not_yet_marked(app, setup):
    meeting_id, starts_at, _ = setup["meetings"][0]
    a, b, c = setup["enrolments"]
    with time_machine.travel(starts_at + timedelta(minutes=10), tick=False):
        client = signed_in(app, setup["hr"])
        roster_post(client, meeting_id, {f"status-{a}": "absent", f"remark-{a}": "連絡あり"})
        response = roster_post(client, meeting_id, {"action": "all_present"})
        assert response.status_code == 302
        assert "2 人を出席にしました。" in client.get(response.headers["Location"]).get_data(as_text=True)
    got = marks(app, meeting_id)
    assert {e: m.status for e, m in got.items()} == {a: AttendanceStatus.ABSENT, b: AttendanceStatus.PRESENT,
                                                     c: AttendanceStatus.PRESENT}
    trail = audits(app)
    assert [e.target_id for e in trail] == [f"{e}:{meeting_id}" for e in (a, b, c)]
    assert all(e.actor_id == setup["hr"].id and e.after["status"] == "present" for e in trail[1:])
    assert marks(app, setup["meetings"][1][0]) == {}  # the other meeting is untouched


@pytest.mark.parametrize(("who", "status"), [
    ("hr", 200), ("instructor", 200), ("other_instructor", 403), ("participant", 403)])
def test_only_hr_and_the_sessions_instructors_open_the_roster(app, setup, who, status):
    meeting_id, starts_at, _ = setup["meetings"][0]
    person = setup["staff"][0] if who == "participant" else setup[who]
    a = setup["enrolments"][1]
    with time_machine.travel(starts_at + timedelta(minutes=5), tick=False):
        client = signed_in(app, person)
        assert client.get(f"/attendance/meetings/{meeting_id}").status_code == status
        assert client.get(f"/attendance/meetings/{meeting_id}/check-in-screen").status_code == status
        response = factories.post(client, f"/attendance/meetings/{meeting_id}", {f"status-{a}": "present"})
        assert response.status_code == (302 if status == 200 else 403)
        response = factories.post(client, f"/attendance/meetings/{meeting_id}", {"action": "all_present"})
        assert response.status_code == (302 if status == 200 else 403)
    if status == 403:
        assert marks(app, meeting_id) == {} and audits(app) == []


def test_roster_needs_a_sign_in_and_a_real_meeting(app, client, setup):
    meeting_id = setup["meetings"][0][0]
    assert client.get(f"/attendance/meetings/{meeting_id}").status_code in (302, 401)
    hr = signed_in(app, setup["hr"])
    assert hr.get("/attendance/meetings/999999").status_code == 404


# --- people who joined late --------------------------------------------------------------------


def test_people_who_join_after_a_meeting_are_not_counted_for_it(app, setup):
    (first_id, _first_start, first_end), (second_id, second_start, second_end) = setup["meetings"]
    a, b, c = setup["enrolments"]
    with app.app_context():
        late_person = factories.employee(name="途中 参加")
        from app.enrollment.services import cancel, enrol, promote_by_hand

        session = db_session.get(Meeting, first_id).training_session
        waiting = enrol(late_person, late_person, session, override_rules=True).enrolment  # full: waitlisted
        db_session.commit()
        late = waiting.id
    joined_at = first_end + timedelta(days=1)
    with time_machine.travel(joined_at, tick=False), app.app_context():
        hr = db_session.get(type(setup["hr"]), setup["hr"].id)
        cancel(hr, db_session.get(Enrolment, c), "異動のため")
        promote_by_hand(hr, db_session.get(Enrolment, late))
        db_session.commit()
        assert db_session.get(Enrolment, late).confirmed_at == joined_at

    with time_machine.travel(first_end + timedelta(days=2), tick=False):
        client = signed_in(app, setup["instructor"])
        page = client.get(f"/attendance/meetings/{first_id}").get_data(as_text=True)
        row = row_of(page, "途中 参加")
        assert NOT_COUNTED in row and f'name="status-{late}"' not in page
        # a posted mark for them is ignored, and "all present" passes them by
        roster_post(client, first_id, {f"status-{a}": "present", f"status-{b}": "absent", f"status-{late}": "absent"})
        roster_post(client, first_id, {"action": "all_present"})
    assert set(marks(app, first_id)) == {a, b}

    with time_machine.travel(second_start + timedelta(minutes=5), tick=False):
        client = signed_in(app, setup["instructor"])
        page = client.get(f"/attendance/meetings/{second_id}").get_data(as_text=True)
        assert f'name="status-{late}"' in page and NOT_COUNTED not in page
        roster_post(client, second_id, {f"status-{e}": "present" for e in (a, b, late)})

    with time_machine.travel(second_end + timedelta(hours=1), tick=False), app.app_context():
        rates = {e: rate_of(db_session.get(Enrolment, e)) for e in (a, b, late)}
        assert (rates[late].attended, rates[late].counted, rates[late].percent) == (1, 1, 100)
        assert (rates[a].attended, rates[a].counted, rates[a].percent) == (2, 2, 100)
        assert (rates[b].attended, rates[b].counted, rates[b].percent) == (1, 2, 50)
    with time_machine.travel(second_end + timedelta(hours=1), tick=False):
        page = signed_in(app, setup["instructor"]).get(f"/attendance/meetings/{first_id}").get_data(as_text=True)
        late_row = row_of(page, "途中 参加")
        assert "100%" in late_row and "(1/1)" in late_row


def test_confirmed_during_a_meeting_still_counts_that_meeting(ctx, setup):
    from app.attendance.services import joined_before

    (first_id, first_start, first_end), (second_id, _, _) = setup["meetings"]
    enrolment = db_session.get(Enrolment, setup["enrolments"][0])
    first, second = db_session.get(Meeting, first_id), db_session.get(Meeting, second_id)
    enrolment.confirmed_at = first_start + timedelta(minutes=30)
    assert joined_before(enrolment, first) and joined_before(enrolment, second)
    enrolment.confirmed_at = first_end
    assert not joined_before(enrolment, first) and joined_before(enrolment, second)
    with time_machine.travel(first_end + timedelta(hours=1), tick=False):
        rate = rate_of(enrolment)
    assert (rate.counted, rate.percent) == (0, None)  # nothing held that counts for them yet


def test_rate_leaves_out_excused_and_meetings_not_held_yet(ctx, setup):
    from app.attendance.services import set_mark

    (first_id, _, first_end), (second_id, _, second_end) = setup["meetings"]
    enrolment = db_session.get(Enrolment, setup["enrolments"][0])
    first, second = db_session.get(Meeting, first_id), db_session.get(Meeting, second_id)
    with time_machine.travel(first_end + timedelta(hours=1), tick=False):
        set_mark(setup["hr"], enrolment, first, AttendanceStatus.LEFT_EARLY)
        rate = rate_of(enrolment)
        assert (rate.attended, rate.counted) == (1, 1)  # the second meeting has not been held
    with time_machine.travel(second_end + timedelta(hours=1), tick=False):
        rate = rate_of(enrolment)
        assert (rate.attended, rate.counted, rate.percent) == (1, 2, 50)  # unmarked after it ended: absent
        set_mark(setup["hr"], enrolment, second, AttendanceStatus.EXCUSED, "公務のため")
        rate = rate_of(enrolment)
        assert (rate.attended, rate.counted, rate.percent) == (1, 1, 100)


# --- the rate on the enrolment page ----------------------------------------------------------


def test_enrolment_page_shows_the_rate_against_the_minimum(app, setup):
    (first_id, _, first_end), (second_id, _, second_end) = setup["meetings"]
    person = setup["staff"][0]
    enrolment_id = setup["enrolments"][0]
    with time_machine.travel(first_end + timedelta(minutes=10), tick=False):
        roster_post(signed_in(app, setup["instructor"]), first_id, {f"status-{enrolment_id}": "present"})
        page = signed_in(app, person).get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
        assert "1回中1回、80% 以上が必要" in page and "100%" in page
    with time_machine.travel(second_end + timedelta(minutes=10), tick=False):
        roster_post(signed_in(app, setup["instructor"]), second_id, {f"status-{enrolment_id}": "absent"})
        page = signed_in(app, person).get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
        panel = page.split('id="progress-heading"')[1].split("</section>")[0]
        assert "50%" in panel and "2回中1回、80% 以上が必要" in panel
        roster = signed_in(app, setup["instructor"]).get(f"/attendance/meetings/{second_id}").get_data(as_text=True)
        row = row_of(roster, "受講 花子0")
        assert "50%" in row and "(1/2)" in row and "80% 未満" in row
