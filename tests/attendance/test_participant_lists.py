"""Attendance from web-meeting participant lists, by minutes (app/attendance/participants.py):
each person's joins summed (overlaps once, clipped to the meeting), the session's rule (75 % by
default) deciding present or absent, the exports of Teams, Zoom and Webex, problems that name the
file, line and column and apply nothing, and people the list cannot match listed for matching by
hand (never skipped), with the same rule and an audit trail."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.attendance import participants
from app.attendance.models import (
    AttendanceMark,
    AttendanceStatus,
    ImportedParticipant,
    ImportState,
    MarkSource,
    ParticipantImport,
    ParticipantMatch,
)
from app.attendance.participant_files import parse_instant, read_participants
from app.attendance.services import set_mark
from app.audit.models import AuditEvent
from app.core.clock import TOKYO
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import RoleName
from app.scheduling.models import Meeting, TrainingSession
from tests import factories
from tests.confirming import confirm_forms, text_of

MINUTES = 150


@pytest.fixture
def setup(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("出席管理課")
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        instructor = factories.employee(division, "SHUSA", roles=(RoleName.INSTRUCTOR,))
        other_instructor = factories.employee(division, "SHUSA", roles=(RoleName.INSTRUCTOR,))
        staff = [factories.employee(division, "SHUNIN", name=f"受講 花子{i}", email=f"Hanako.{i}@Pref.example.lg.jp")
                 for i in range(3)]
        session = factories.training_session(factories.course(title_ja="Web会議の研修"), starts_in=timedelta(days=3),
                                             capacity=5, instructors=[instructor], online_url="https://meet.example/r")
        factories.training_session(factories.course(), starts_in=timedelta(days=3), instructors=[other_instructor])
        enrolments = [factories.enrolment(person, session).id for person in staff]
        meeting = session.meetings[0]
        ends_at = meeting.starts_at + timedelta(minutes=MINUTES)
        db_session.execute(update(Meeting).where(Meeting.id == meeting.id).values(ends_at=ends_at))
        db_session.execute(update(TrainingSession).where(TrainingSession.id == session.id).values(ends_at=ends_at))
        db_session.commit()
        return {"hr": hr, "instructor": instructor, "other_instructor": other_instructor, "staff": staff,
                "emails": [p.email for p in staff], "enrolments": enrolments, "meeting": meeting.id,
                "starts_at": meeting.starts_at, "session": session.id}


def at(setup, minute: float, fmt: str = "%Y/%m/%d %H:%M:%S") -> str:  # type: ignore[no-untyped-def]
    """The meeting's start plus `minute`, in Japan time, as an export writes it."""
    return (setup["starts_at"] + timedelta(minutes=minute)).astimezone(TOKYO).strftime(fmt)


def joins_csv(setup, rows: list[tuple[str, str, float, float]]) -> bytes:  # type: ignore[no-untyped-def]
    """A Zoom-like participants report: one row per join (name, e-mail, from, to in minutes)."""
    lines = ["Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest"]
    lines += [f"{name},{email},{at(setup, a)},{at(setup, b)},{int(b - a)},No" for name, email, a, b in rows]
    return "\n".join(lines).encode()


def meeting(setup) -> Meeting:  # type: ignore[no-untyped-def]
    found = db_session.get(Meeting, setup["meeting"])
    assert found is not None
    return found


def marks() -> dict[int, AttendanceMark]:
    return {m.enrolment_id: m for m in db_session.scalars(select(AttendanceMark).execution_options(
        populate_existing=True))}


def import_and_apply(setup, raw: bytes, actor=None) -> ParticipantImport:  # type: ignore[no-untyped-def]
    found = participants.upload(actor or setup["instructor"], meeting(setup), raw, "participants.csv")
    participants.apply(actor or setup["instructor"], found)
    return found


def signed_in(app, person):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, person)
    return client


def upload(client, meeting_id: int, raw: bytes, filename: str = "participants.csv"):  # type: ignore[no-untyped-def]
    token = factories.csrf_token(client, f"/attendance/meetings/{meeting_id}")
    return client.post(f"/attendance/meetings/{meeting_id}/participants",
                       data={"csrf_token": token, "file": (io.BytesIO(raw), filename)},
                       content_type="multipart/form-data")


def page_post(client, meeting_id: int, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """Post a form of the list page. Applying presses the button of the list's preview, which
    carries the preview's fingerprint (an applied list shows none: the apply is refused)."""
    if path == "/apply" and "fingerprint" not in data:
        page = client.get(f"/attendance/meetings/{meeting_id}/participant-lists?import={data['import_id']}")
        forms = confirm_forms(page.get_data(as_text=True))
        data = {**data, **({"fingerprint": dict(forms[0][1])["fingerprint"]} if forms else {})}
    token = factories.csrf_token(client, f"/attendance/meetings/{meeting_id}/participant-lists")
    return client.post(f"/attendance/meetings/{meeting_id}/participants{path}", data={**data, "csrf_token": token})


# --- the minute rule ----------------------------------------------------------------------------


def test_two_of_150_minutes_is_absent(ctx, setup):
    a, *_ = setup["enrolments"]
    import_and_apply(setup, joins_csv(setup, [("受講 花子0", setup["emails"][0], 10, 12)]))
    mark = marks()[a]
    assert (mark.status, mark.source) == (AttendanceStatus.ABSENT, MarkSource.IMPORT)


def test_three_joins_summing_120_of_150_are_present(ctx, setup):
    a, b, _c = setup["enrolments"]
    email = setup["emails"][0]
    raw = joins_csv(setup, [("受講 花子0", email, 0, 50), ("受講 花子0", email, 60, 100),
                            ("受講 花子0 (iPhone)", email.upper(), 110, 140),  # 50 + 40 + 30 = 120 (80 %)
                            ("受講 花子1", setup["emails"][1], 0, 110)])  # 110 of 150: 73 %, short of 75 %
    found = import_and_apply(setup, raw)
    got = marks()
    assert got[a].status == AttendanceStatus.PRESENT and got[b].status == AttendanceStatus.ABSENT
    by_email = {p.email: p for p in found.participants}
    assert by_email[email.lower()].minutes == 120 and by_email[email.lower()].lines == "2, 3, 4"


def test_overlapping_joins_are_counted_once_and_clipped_to_the_meeting(ctx, setup):
    a, *_ = setup["enrolments"]
    email = setup["emails"][0]
    # a PC from 30 minutes early to 60, a phone from 30 to 100 at the same time: 0–100 inside = 100 min
    raw = joins_csv(setup, [("受講 花子0", email, -30, 60), ("受講 花子0", email, 30, 100)])
    found = import_and_apply(setup, raw)
    assert found.participants[0].minutes == 100
    assert marks()[a].status == AttendanceStatus.ABSENT  # 66 %, not 130 of 150
    rows = participants.rows_of(meeting(setup), found)
    assert (rows[0].minutes, rows[0].share) == (100, 66)


def test_the_sessions_own_rule_decides(ctx, setup):
    a, *_ = setup["enrolments"]
    db_session.get(TrainingSession, setup["session"]).min_presence_pct = 60
    import_and_apply(setup, joins_csv(setup, [("受講 花子0", setup["emails"][0], 0, 90)]))  # 60 %
    assert marks()[a].status == AttendanceStatus.PRESENT


def test_the_database_holds_the_rule_between_1_and_100(ctx, setup):
    for bad in (0, 101):
        with pytest.raises(IntegrityError), db_session.begin_nested():
            db_session.execute(update(TrainingSession).where(TrainingSession.id == setup["session"])
                               .values(min_presence_pct=bad))
    assert db_session.get(TrainingSession, setup["session"]).min_presence_pct == 75  # the default


def test_marks_made_by_hand_are_kept_and_the_imports_own_are_corrected(ctx, setup):
    a, b, c = (db_session.get(Enrolment, e) for e in setup["enrolments"])
    m = meeting(setup)
    set_mark(setup["instructor"], a, m, AttendanceStatus.LATE, "30分遅刻")  # by hand: kept either way
    set_mark(setup["instructor"], b, m, AttendanceStatus.EXCUSED, "回線不調")
    set_mark(None, c, m, AttendanceStatus.PRESENT, source=MarkSource.IMPORT)  # an earlier "2 minutes" import
    emails = setup["emails"]
    import_and_apply(setup, joins_csv(setup, [("受講 花子0", emails[0], 0, 5), ("受講 花子1", emails[1], 0, 150),
                                              ("受講 花子2", emails[2], 0, 2)]))
    got = {e: (m.status, m.remark) for e, m in marks().items()}
    assert got == {a.id: (AttendanceStatus.LATE, "30分遅刻"), b.id: (AttendanceStatus.PRESENT, "回線不調"),
                   c.id: (AttendanceStatus.ABSENT, "")}


def test_two_lists_of_one_meeting_add_up_without_counting_twice(ctx, setup):
    a, *_ = setup["enrolments"]
    email = setup["emails"][0]
    import_and_apply(setup, joins_csv(setup, [("受講 花子0", email, 0, 80)]))
    assert marks()[a].status == AttendanceStatus.ABSENT
    import_and_apply(setup, joins_csv(setup, [("受講 花子0", email, 0, 80)]))  # the same file again
    assert marks()[a].status == AttendanceStatus.ABSENT
    import_and_apply(setup, joins_csv(setup, [("受講 花子0", email, 70, 120)]))  # the breakout room's list
    assert marks()[a].status == AttendanceStatus.PRESENT  # 0–120 = 80 %


# --- the exports -------------------------------------------------------------------------------


def test_teams_report_in_utf16_uses_each_join_not_first_to_last(ctx, setup):
    """Teams writes UTF-16 with tabs: a summary, the participants (first join, last leave), then
    every join. Someone away for an hour in the middle is not present from 0 to 150."""
    e = setup["emails"]
    report = "\r\n".join([
        "1. 概要", "会議のタイトル\tWeb会議の研修", "出席者数\t3", "",
        "2. 参加者", "名前\t最初の参加\t最後の退出\t会議の長さ\tメール\t参加者 ID (UPN)\t役割",
        f"受講 花子0\t{at(setup, 0)}\t{at(setup, 150)}\t2時間30分\t{e[0]}\t{e[0]}\t出席者",
        f"受講 花子1\t{at(setup, 0)}\t{at(setup, 150)}\t2時間30分\t{e[1]}\t{e[1]}\t出席者",
        f"外部 講師\t{at(setup, 0)}\t{at(setup, 150)}\t2時間30分\t\t\t開催者", "",
        "3. 会議中のアクティビティ", "名前\t参加\t退出\t期間\tメール\t役割",
        f"受講 花子0\t{at(setup, 0)}\t{at(setup, 40)}\t40分\t{e[0]}\t出席者",
        f"受講 花子0\t{at(setup, 100)}\t{at(setup, 150)}\t50分\t{e[0]}\t出席者"])
    parsed = read_participants(report.encode("utf-16"), "会議出席者.csv", setup["starts_at"],
                               setup["starts_at"] + timedelta(minutes=MINUTES))
    assert parsed.problems == [] and parsed.file_format == "Teams"
    people = {p.name: p for p in parsed.participants}
    assert sorted(people) == ["受講 花子0", "受講 花子1", "外部 講師"]
    assert people["受講 花子0"].lines == [7, 13, 14]
    assert sum((b - a).total_seconds() for a, b in people["受講 花子0"].intervals) == 90 * 60  # its joins
    assert sum((b - a).total_seconds() for a, b in people["受講 花子1"].intervals) == 150 * 60  # only the span
    assert people["外部 講師"].email == ""  # a guest: listed, to be matched by hand


def test_teams_classic_list_of_joined_and_left_without_emails(ctx, setup):
    fmt = "%m/%d/%Y, %I:%M:%S %p"
    report = "\r\n".join(["Full Name\tUser Action\tTimestamp",
                          f"受講 花子0\tJoined\t{at(setup, 0, fmt)}", f"受講 花子0\tLeft\t{at(setup, 30, fmt)}",
                          f"受講 花子0\tJoined\t{at(setup, 60, fmt)}",  # stayed to the end: 30 + 90
                          f"受講 花子1\tJoined before\t{at(setup, -5, fmt)}", f"受講 花子1\tLeft\t{at(setup, 2, fmt)}"])
    found = participants.upload(setup["instructor"], meeting(setup), report.encode("utf-16"), "attendance.csv")
    assert found.file_format == "Teams"
    assert [(p.name, p.minutes, p.match, p.reason) for p in found.participants] == [
        ("受講 花子0", 120, ParticipantMatch.UNMATCHED, "no_email"),
        ("受講 花子1", 2, ParticipantMatch.UNMATCHED, "no_email")]


def test_zoom_report_with_its_meeting_section_in_us_dates(ctx, setup):
    fmt = "%m/%d/%Y %I:%M:%S %p"
    e = setup["emails"]
    report = "\n".join([
        "Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants",
        f"812 3456 7890,Web会議の研修,{at(setup, 0, fmt)},{at(setup, 150, fmt)},host@pref.example.lg.jp,150,3", "",
        "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest",
        f"受講 花子0,{e[0]},{at(setup, 0, fmt)},{at(setup, 150, fmt)},150,No",
        f"受講 花子1,{e[1]},{at(setup, 2, fmt)},{at(setup, 4, fmt)},2,No"])
    found = participants.upload(setup["instructor"], meeting(setup), report.encode(), "zoom.csv")
    assert found.file_format == "Zoom"
    assert [(p.first_line, p.email, p.minutes, p.match) for p in found.participants] == [
        (5, e[0].lower(), 150, ParticipantMatch.MATCHED), (6, e[1].lower(), 2, ParticipantMatch.MATCHED)]


def test_webex_attendee_report_and_a_cp932_file_in_japanese(ctx, setup):
    e = setup["emails"]
    iso = "%Y-%m-%d %H:%M:%S"
    webex = "\n".join(["Attendee Name,Attendee Email,Join Time,Leave Time,Attendance Duration",
                       f"受講 花子2,{e[2]},{at(setup, 0, iso)},{at(setup, 140, iso)},140 mins"])
    found = participants.upload(setup["instructor"], meeting(setup), webex.encode(), "webex.csv")
    assert found.file_format == "Webex" and [p.minutes for p in found.participants] == [140]
    japanese = ("氏名,メールアドレス,参加時刻,退出時刻\r\n"
                f"受講 花子2,{e[2]},{at(setup, 0, '%H:%M')},{at(setup, 120, '%H:%M')}\r\n").encode("cp932")
    found = participants.upload(setup["instructor"], meeting(setup), japanese, "参加者.csv")
    assert [(p.name, p.minutes, p.match) for p in found.participants] == [("受講 花子2", 120, ParticipantMatch.MATCHED)]


def test_a_day_written_either_way_is_read_as_the_meetings_day(ctx, setup):
    day = datetime(2026, 1, 10, 13, 0, tzinfo=TOKYO).date()
    assert parse_instant("01/10/2026 1:30 PM", day)[0] == datetime(2026, 1, 10, 13, 30, tzinfo=TOKYO)
    assert parse_instant("10/01/2026 13:30", day)[0] == datetime(2026, 1, 10, 13, 30, tzinfo=TOKYO)
    assert parse_instant("2026-01-10T04:30:00Z", day)[0] == datetime(2026, 1, 10, 13, 30, tzinfo=TOKYO)
    assert parse_instant("午後1:30", day) == (datetime(2026, 1, 10, 13, 30, tzinfo=TOKYO), False)


# --- problems: file, line and column; nothing applied ------------------------------------------


def test_problems_name_the_file_line_and_column_and_nothing_is_stored(app, setup):
    e = setup["emails"]
    bad = "\n".join(["Name,Email,Join Time,Leave Time", f"受講 花子0,{e[0]},{at(setup, 0)},{at(setup, 150)}",
                     f"受講 花子1,{e[1]},25:99,{at(setup, 150)}", f"受講 花子2,{e[2]},{at(setup, 60)},{at(setup, 10)}"])
    no_leave = f"名前,メールアドレス,参加時刻\r\n受講 花子0,{e[0]},10:00\r\n".encode("cp932")
    client = signed_in(app, setup["instructor"])
    response = upload(client, setup["meeting"], bad.encode(), "zoom.csv")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "zoom.csv、3行目、Join Time:" in page and "25:99" in page
    assert "zoom.csv、4行目、Leave Time: 参加時刻より前です。" in page
    response = upload(client, setup["meeting"], no_leave, "参加者.csv")
    assert response.status_code == 422
    assert "参加者.csv、1行目、退出時刻:" in response.get_data(as_text=True)
    response = upload(client, setup["meeting"], b"email\n\xff\xfe\x00\x81\x00\n", "broken.csv")
    assert response.status_code == 422 and "broken.csv、1行目、ファイル:" in response.get_data(as_text=True)
    with app.app_context():
        assert db_session.scalars(select(ParticipantImport)).all() == []
        assert db_session.scalars(select(AttendanceMark)).all() == []


# --- the pages: preview, apply, match by hand -----------------------------------------------------


def test_preview_then_apply_and_a_guest_matched_by_hand(app, setup):
    a, b, c = setup["enrolments"]
    e = setup["emails"]
    raw = joins_csv(setup, [("受講 花子0", e[0], 0, 2), ("受講 花子1", e[1], 0, 150),
                            ("はなこ（自宅PC）", "", 0, 60), ("はなこ（自宅PC）", "", 70, 140),
                            ("外部 講師", "lecturer@example.com", 0, 150)])
    client = signed_in(app, setup["instructor"])
    response = upload(client, setup["meeting"], raw)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "プレビュー" in page and "150 分の 75% 以上" in page
    assert re.search(r"2 / 150</td><td class=\"num\">1%</td>\s*<td>欠席</td>", page)
    assert re.search(r"150 / 150</td><td class=\"num\">100%</td>\s*<td>出席</td>", page)
    assert "メールアドレスなし" in page and "この日程の受講者ではありません" in page
    with app.app_context():
        assert db_session.scalars(select(AttendanceMark)).all() == []  # the preview saves no mark
        import_id = db_session.scalar(select(ParticipantImport.id))
    response = page_post(client, setup["meeting"], "/apply", {"import_id": str(import_id)})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "参加者リストから出欠を登録しました（変更 2 件）。" in page
    assert "手作業で照合（2 人）" in page
    with app.app_context():
        got = {m.enrolment_id: m.status for m in db_session.scalars(select(AttendanceMark))}
        assert got == {a: AttendanceStatus.ABSENT, b: AttendanceStatus.PRESENT}
        guest, lecturer = (db_session.scalar(select(ImportedParticipant).where(ImportedParticipant.name == n))
                           for n in ("はなこ（自宅PC）", "外部 講師"))
        assert (guest.minutes, guest.match, guest.lines) == (130, ParticipantMatch.UNMATCHED, "4, 5")
    # the roster and the teaching page say people wait to be matched
    assert "2 人がまだ手作業での照合を待っています" in client.get(
        f"/attendance/meetings/{setup['meeting']}").get_data(as_text=True)
    assert "2 人を手作業で照合" in client.get("/attendance/teaching").get_data(as_text=True)

    response = page_post(client, setup["meeting"], "/match", {"participant_id": str(guest.id), "enrolment": str(c)})
    assert response.status_code == 302
    assert "照合しました: はなこ（自宅PC）" in client.get(response.headers["Location"]).get_data(as_text=True)
    response = page_post(client, setup["meeting"], "/match", {"participant_id": str(lecturer.id), "enrolment": "none"})
    assert response.status_code == 302
    with app.app_context():
        mark = db_session.scalar(select(AttendanceMark).where(AttendanceMark.enrolment_id == c))
        assert (mark.status, mark.source) == (AttendanceStatus.PRESENT, MarkSource.IMPORT)  # 130 of 150
        trail = [(ev.action, ev.after) for ev in db_session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("attendance.participant%")).order_by(AuditEvent.id))]
        assert [action for action, _after in trail] == [
            "attendance.participants_uploaded", "attendance.participants_applied", "attendance.participant_matched",
            "attendance.participant_matched"]
        assert trail[2][1]["match"] == "matched_by_hand" and trail[2][1]["minutes"] == 130
        assert trail[2][1]["enrolment"] == c and trail[3][1]["match"] == "dismissed"
    page = client.get(f"/attendance/meetings/{setup['meeting']}/participant-lists").get_data(as_text=True)
    assert "手作業で照合（" not in page and "手作業で照合済み" in page and "受講者ではない" in page
    assert "照合を待って" not in client.get(f"/attendance/meetings/{setup['meeting']}").get_data(as_text=True)


def test_a_second_apply_and_a_second_match_change_nothing(app, setup):
    c = setup["enrolments"][2]
    client = signed_in(app, setup["hr"])
    response = upload(client, setup["meeting"], joins_csv(setup, [("ゲスト", "", 0, 150)]))
    with app.app_context():
        import_id = db_session.scalar(select(ParticipantImport.id))
        guest_id = db_session.scalar(select(ImportedParticipant.id))
    for expected in ("参加者リストから出欠を登録しました（変更 0 件）。", "このリストは登録済みです。"):
        response = page_post(client, setup["meeting"], "/apply", {"import_id": str(import_id)})
        assert expected in client.get(response.headers["Location"]).get_data(as_text=True)
    for expected in ("照合しました: ゲスト。", "ほかの人がすでにこの人を照合しています。下で確認してください。"):
        response = page_post(client, setup["meeting"], "/match", {"participant_id": str(guest_id),
                                                                 "enrolment": str(c)})
        assert expected in client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db_session.scalar(select(AuditEvent.id).where(AuditEvent.action == "attendance.marked")
                                 .where(AuditEvent.target_id == f"{c}:{setup['meeting']}"))
        assert len(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "attendance.marked")).all()) == 1
        assert len(db_session.scalars(select(AuditEvent).where(
            AuditEvent.action == "attendance.participant_matched")).all()) == 1


def test_a_match_must_be_someone_enrolled_and_the_list_applied(app, setup):
    client = signed_in(app, setup["instructor"])
    upload(client, setup["meeting"], joins_csv(setup, [("ゲスト", "", 0, 150)]))
    with app.app_context():
        guest = db_session.scalar(select(ImportedParticipant))
        stranger = factories.enrolment(factories.employee(), factories.training_session(factories.course()))
        import_id, guest_id, stranger_id = guest.import_id, guest.id, stranger.id
    response = page_post(client, setup["meeting"], "/match", {"participant_id": str(guest_id),
                                                             "enrolment": str(setup["enrolments"][0])})
    assert response.status_code == 400 and "先にリストを登録してください" in response.get_data(as_text=True)
    page_post(client, setup["meeting"], "/apply", {"import_id": str(import_id)})
    response = page_post(client, setup["meeting"], "/match", {"participant_id": str(guest_id),
                                                             "enrolment": str(stranger_id)})
    assert response.status_code == 400
    assert "この人は誰ですか:" in response.get_data(as_text=True)
    response = page_post(client, setup["meeting"], "/match", {"participant_id": str(guest_id), "enrolment": ""})
    assert response.status_code == 400
    with app.app_context():
        assert db_session.get(ImportedParticipant, guest_id).match == ParticipantMatch.UNMATCHED
        assert db_session.scalars(select(AttendanceMark)).all() == []


def test_participant_lists_are_for_the_sessions_staff_only(app, setup):
    client = signed_in(app, setup["instructor"])
    upload(client, setup["meeting"], joins_csv(setup, [("ゲスト", "", 0, 150)]))
    with app.app_context():
        guest = db_session.scalar(select(ImportedParticipant))
        import_id, guest_id = guest.import_id, guest.id
        assert db_session.get(ParticipantImport, import_id).state == ImportState.PREVIEWED
    other = signed_in(app, setup["other_instructor"])
    assert other.get(f"/attendance/meetings/{setup['meeting']}/participant-lists").status_code == 403
    assert upload(other, setup["meeting"], joins_csv(setup, [("ゲスト", "", 0, 150)])).status_code == 403
    for path, data in (("/apply", {"import_id": str(import_id)}),
                       ("/match", {"participant_id": str(guest_id), "enrolment": str(setup["enrolments"][0])})):
        response = factories.post(other, f"/attendance/meetings/{setup['meeting']}/participants{path}", data)
        assert response.status_code == 403
    participant = signed_in(app, setup["staff"][0])
    assert participant.get(f"/attendance/meetings/{setup['meeting']}/participant-lists").status_code == 403
    with app.app_context():
        assert db_session.get(ParticipantImport, import_id).state == ImportState.PREVIEWED


def test_whoever_schedules_the_session_sets_the_share(app, setup):
    client = signed_in(app, setup["hr"])
    path = f"/sessions/{setup['session']}/edit"
    page = client.get(path).get_data(as_text=True)
    assert 'name="min_presence_pct"' in page and 'value="75"' in page
    form = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    form["meetings"] = re.search(r'<textarea[^>]*name="meetings"[^>]*>\s*([^<]*)</textarea>', page).group(1).strip()
    form["approval_policy"] = "none"
    response = client.post(path, data={**form, "min_presence_pct": "0"})
    assert response.status_code == 400
    assert "Web会議で出席とする参加時間（%）: 1 から 100 の割合を入力してください。" in response.get_data(as_text=True)
    response = client.post(path, data={**form, "min_presence_pct": "60"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        assert db_session.get(TrainingSession, setup["session"]).min_presence_pct == 60


def test_the_list_page_reads_in_a_fixed_number_of_statements(app, setup):
    from tests.querycount import count_statements

    e = setup["emails"]
    client = signed_in(app, setup["instructor"])
    path = f"/attendance/meetings/{setup['meeting']}/participant-lists"
    counts = []
    for rows in ([("受講 花子0", e[0], 0, 150)],
                 [("受講 花子0", e[0], 0, 150), ("受講 花子1", e[1], 0, 10), ("受講 花子2", e[2], 0, 140),
                  ("ゲスト1", "", 0, 150), ("ゲスト2", "guest@example.com", 0, 150)]):
        upload(client, setup["meeting"], joins_csv(setup, rows))
        with app.app_context():
            import_id = db_session.scalar(select(ParticipantImport.id).order_by(ParticipantImport.id.desc()))
        page_post(client, setup["meeting"], "/apply", {"import_id": str(import_id)})
        client.get(path)  # the signed-in person's own statements settle
        with count_statements(app) as counter:
            assert client.get(path).status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1] <= 16, counts  # not one more per person


def test_a_list_is_applied_as_previewed_or_not_at_all(app, setup):
    a = setup["enrolments"][0]
    client = signed_in(app, setup["instructor"])
    upload(client, setup["meeting"], joins_csv(setup, [("受講 花子0", setup["emails"][0], 0, 150)]))
    with app.app_context():
        import_id = db_session.scalar(select(ParticipantImport.id))
    page = client.get(f"/attendance/meetings/{setup['meeting']}/participant-lists").get_data(as_text=True)
    words = text_of(page)
    assert "反映すると、上で → の付いた 1 人の出欠が記録され、この一覧は二度と反映できません。" in words
    assert "キャンセル（出欠表に戻る）" in words
    shown = dict(confirm_forms(page)[0][1])["fingerprint"]
    with app.app_context():  # meanwhile the instructor marks her absent on the roster
        from app.attendance.models import AttendanceStatus as Status
        from app.attendance.services import set_mark
        from app.enrollment.models import Enrolment
        from app.scheduling.models import Meeting

        set_mark(None, db_session.get(Enrolment, a), db_session.get(Meeting, setup["meeting"]), Status.ABSENT)
        db_session.commit()
    refused = page_post(client, setup["meeting"], "/apply", {"import_id": str(import_id), "fingerprint": shown})
    assert refused.status_code == 409
    assert "プレビューの後にデータが変わったため、何も変更していません。" in text_of(refused.get_data(as_text=True))
    with app.app_context():
        assert db_session.get(ParticipantImport, import_id).state == ImportState.PREVIEWED  # not applied
    missing = page_post(client, setup["meeting"], "/apply", {"import_id": str(import_id), "fingerprint": ""})
    assert missing.status_code == 200  # no preview was confirmed: the preview again, nothing applied
    with app.app_context():
        assert db_session.get(ParticipantImport, import_id).state == ImportState.PREVIEWED
    assert page_post(client, setup["meeting"], "/apply", {"import_id": str(import_id)}).status_code == 302
    with app.app_context():
        assert db_session.get(ParticipantImport, import_id).state == ImportState.APPLIED
