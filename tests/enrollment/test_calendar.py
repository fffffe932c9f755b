"""Calendar files parse with an independent reader; moves keep UIDs and raise SEQUENCE."""
from __future__ import annotations

import re
from datetime import UTC, timedelta

from icalendar import Calendar

from app.org.models import RoleName
from app.scheduling.services import SessionDetails, cancel_session, update_session
from tests import factories


def events(body: bytes) -> list:
    calendar = Calendar.from_ical(body)
    return [c for c in calendar.walk() if c.name == "VEVENT"]


def test_enrolment_ics_parses_and_is_in_tokyo_time(app, client):
    with app.app_context():
        person = factories.employee()
        course = factories.course(title_ja="主任級デジタル研修")
        session = factories.training_session(course, meetings=2, location="県庁 講堂")
        enrolment = factories.enrolment(person, session)
        starts = [m.starts_at for m in session.meetings]
    factories.login_as(client, person)
    response = client.get(f"/enrolments/{enrolment.id}/calendar.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    assert any(c.name == "VTIMEZONE" and str(c["TZID"]) == "Asia/Tokyo" for c in calendar.walk())
    parsed = events(response.data)
    assert len(parsed) == 2
    assert [e.decoded("dtstart") for e in parsed] == starts
    assert str(parsed[0]["dtstart"].dt.tzinfo) == "Asia/Tokyo"
    assert str(parsed[0]["summary"]).startswith("主任級デジタル研修")
    assert str(parsed[0]["status"]) == "CONFIRMED" and str(parsed[0]["location"]) == "県庁 講堂"


def test_move_keeps_uid_and_raises_sequence_and_cancel_marks_cancelled(app, client):
    with app.app_context():
        person = factories.employee()
        hr = factories.employee(roles=(RoleName.HR,))
        session = factories.training_session(factories.course())
        enrolment = factories.enrolment(person, session)
        session_id = session.id
    factories.login_as(client, person)
    before = events(client.get(f"/enrolments/{enrolment.id}/calendar.ics").data)[0]

    with app.app_context():
        from app.core.db import db_session
        from app.scheduling.models import TrainingSession

        session = db_session.get(TrainingSession, session_id)
        details = SessionDetails(**{k: getattr(session, k) for k in (
            "label", "location", "online_url", "capacity", "enrolment_opens_at", "enrolment_closes_at",
            "cancellation_deadline_at", "approval_policy", "notes")})
        moved = [(m.starts_at + timedelta(hours=1), m.ends_at + timedelta(hours=1)) for m in session.meetings]
        update_session(db_session.get(type(hr), hr.id), session, details, moved, [])
        db_session.commit()
    after = events(client.get(f"/enrolments/{enrolment.id}/calendar.ics").data)[0]
    assert str(after["uid"]) == str(before["uid"])
    assert int(after["sequence"]) > int(before["sequence"])
    assert after.decoded("dtstart") - before.decoded("dtstart") == timedelta(hours=1)

    with app.app_context():
        from app.core.db import db_session
        from app.scheduling.models import TrainingSession

        cancel_session(None, db_session.get(TrainingSession, session_id), "講師急病")
        db_session.commit()
    cancelled = events(client.get(f"/enrolments/{enrolment.id}/calendar.ics").data)[0]
    assert str(cancelled["status"]) == "CANCELLED" and str(cancelled["uid"]) == str(before["uid"])
    assert int(cancelled["sequence"]) > int(after["sequence"])


def test_private_feed_lists_my_sessions_and_reset_revokes_the_old_url(app, client):
    with app.app_context():
        person = factories.employee()
        factories.enrolment(person, factories.training_session(factories.course(title_ja="研修A")))
        factories.enrolment(person, factories.training_session(factories.course(title_ja="研修B")))
    factories.login_as(client, person)
    factories.post(client, "/calendar/reset", form_page="/my-learning")
    page = client.get("/my-learning").get_data(as_text=True)
    base = re.escape(app.config["BASE_URL"])  # the address people use, whatever host the request named
    url = re.search(rf'id="feed-url" type="text" readonly value="{base}(/calendar/[^"]+\.ics)"', page).group(1)
    anonymous = app.test_client()
    feed = anonymous.get(url)
    assert feed.status_code == 200
    assert sorted(str(e["summary"]) for e in events(feed.data)) == ["研修A", "研修B"]
    factories.post(client, "/calendar/reset", form_page="/my-learning")
    assert anonymous.get(url).status_code == 404


def test_cancelled_place_shows_as_cancelled_in_the_feed(app, client):
    with app.app_context():
        person = factories.employee()
        enrolment = factories.enrolment(person, factories.training_session(factories.course()))
    factories.login_as(client, person)
    before = events(client.get(f"/enrolments/{enrolment.id}/calendar.ics").data)[0]
    factories.post(client, f"/enrolments/{enrolment.id}/cancel", {"reason": "都合"},
                   form_page=f"/enrolments/{enrolment.id}")
    after = events(client.get(f"/enrolments/{enrolment.id}/calendar.ics").data)[0]
    assert str(after["status"]) == "CANCELLED" and int(after["sequence"]) > int(before["sequence"])


def test_long_titles_and_special_characters_fold_and_read_back_exactly():
    from datetime import datetime

    from app.enrollment.calendar import CalendarEntry, calendar_bytes
    from app.enrollment.models import EnrolmentState

    title = "行政ＤＸ推進研修；データ活用, 政策立案\\基礎編 " + "スマート自治体の実現に向けた業務改革" * 3
    starts = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)
    entry = CalendarEntry(meetings=((41, starts, starts + timedelta(hours=3)),), sequence=2, title=title,
                          course_code="DX-101", label="第1回（津会場）", location="県庁 講堂, 5階; 東側",
                          online_url="", session_cancelled=False, enrolment_state=EnrolmentState.CONFIRMED)
    body = calendar_bytes([entry], domain="pref.example.jp", name=title, base_url="https://manabi.example.jp")
    assert all(len(line) <= 75 for line in body.split(b"\r\n")), "every line folds at 75 octets"
    body.decode("utf-8")  # folding never splits a character
    [event] = events(body)
    assert str(event["summary"]) == title and str(event["location"]) == "県庁 講堂, 5階; 東側"
    assert str(event["description"]).split("\n")[:2] == [title, "第1回（津会場）"]
    assert event.decoded("dtstart") == starts and int(event["sequence"]) == 2
    assert str(event["uid"]) == "manabi-meeting-41@pref.example.jp"


def _entry(**overrides):  # type: ignore[no-untyped-def]
    from datetime import datetime

    from app.enrollment.calendar import CalendarEntry
    from app.enrollment.models import EnrolmentState

    starts = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)
    fields = {"meetings": ((41, starts, starts + timedelta(hours=3)),), "sequence": 2, "title": "主任級デジタル研修",
              "course_code": "DX-101", "label": "", "location": "県庁 講堂", "online_url": "",
              "session_cancelled": False, "enrolment_state": EnrolmentState.CONFIRMED, **overrides}
    return CalendarEntry(**fields)


def _file(*entries, name: str = "研修") -> bytes:  # type: ignore[no-untyped-def]
    from app.enrollment.calendar import calendar_bytes

    return calendar_bytes(list(entries), domain="pref.example.jp", name=name, base_url="https://manabi.example.jp")


def test_the_file_says_what_a_calendar_needs_in_tokyo_time():
    from datetime import datetime

    starts = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)
    second = starts + timedelta(days=7)
    body = _file(_entry(meetings=((41, starts, starts + timedelta(hours=3)), (42, second, second + timedelta(hours=3))),
                        online_url="https://meet.pref.example.jp/r/1", label="第1回"))
    calendar = Calendar.from_ical(body)
    assert (str(calendar["prodid"]), str(calendar["version"]), str(calendar["method"])) == (
        "-//Manabi//Staff training//JA", "2.0", "PUBLISH")
    assert str(calendar["x-wr-calname"]) == "研修"
    [zone] = [c for c in calendar.walk() if c.name == "VTIMEZONE"]
    assert str(zone["tzid"]) == "Asia/Tokyo"
    assert [(c.name, str(c["tzoffsetto"].to_ical())) for c in zone.subcomponents] == [("STANDARD", "+0900")]
    first, last = events(body)
    assert [str(e["summary"]) for e in (first, last)] == ["主任級デジタル研修 (1/2)", "主任級デジタル研修 (2/2)"]
    assert [str(e["uid"]) for e in (first, last)] == ["manabi-meeting-41@pref.example.jp",
                                                     "manabi-meeting-42@pref.example.jp"]
    assert b"DTSTART;TZID=Asia/Tokyo:20270112T100000" in body and b"DTEND;TZID=Asia/Tokyo:20270112T130000" in body
    assert first.decoded("dtend") - first.decoded("dtstart") == timedelta(hours=3)
    assert first.decoded("dtstamp").tzinfo is not None and int(first["sequence"]) == 2
    assert (str(first["status"]), str(first["transp"]), str(first["url"])) == (
        "CONFIRMED", "OPAQUE", "https://meet.pref.example.jp/r/1")
    assert str(first["description"]).split("\n") == ["主任級デジタル研修", "第1回", "https://meet.pref.example.jp/r/1",
                                                     "https://manabi.example.jp/catalog/courses/DX-101"]


def test_cancellations_and_tentative_places_update_the_same_event():
    from app.enrollment.models import EnrolmentState

    def event_of(**overrides):  # type: ignore[no-untyped-def]
        [event] = events(_file(_entry(**overrides)))
        return str(event["uid"]), str(event["status"]), str(event["transp"]), int(event["sequence"])

    uid = "manabi-meeting-41@pref.example.jp"
    assert event_of(session_cancelled=True) == (uid, "CANCELLED", "TRANSPARENT", 2)  # its cancellation raised it
    for state in (EnrolmentState.CANCELLED, EnrolmentState.DECLINED):  # a person's own: one higher, so it applies
        assert event_of(enrolment_state=state) == (uid, "CANCELLED", "TRANSPARENT", 3)
    for state in (EnrolmentState.PENDING, EnrolmentState.WAITLISTED):
        assert event_of(enrolment_state=state) == (uid, "TENTATIVE", "OPAQUE", 2)


def test_line_breaks_in_text_stay_inside_their_property():
    """A title, room or label with a line break (an old import, a direct database edit) cannot add a
    property or an event: TEXT escapes it as \\n; a web meeting link that is not one line is left
    out of URL (it still shows, escaped, in the description)."""
    attack = "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil@example.com\r\nSTATUS:CANCELLED"
    body = _file(_entry(title="研修" + attack, location="講堂\nATTENDEE:mailto:evil@example.com",
                        label="第1回\rX-EVIL:1", online_url="https://meet.example.jp/r/1" + attack),
                 name="研修" + attack)
    [event] = events(body)
    assert str(event["summary"]) == "研修" + attack.replace("\r\n", "\n")
    assert str(event["location"]) == "講堂\nATTENDEE:mailto:evil@example.com"
    assert (str(event["uid"]), str(event["status"])) == ("manabi-meeting-41@pref.example.jp", "CONFIRMED")
    assert "url" not in event and "attendee" not in event and "x-evil" not in event
    names = [line.split(b":", 1)[0].split(b";", 1)[0] for line in body.split(b"\r\n") if line and line[:1] != b" "]
    assert names.count(b"BEGIN") == names.count(b"END") == 4  # VCALENDAR, VTIMEZONE, STANDARD, VEVENT
    assert names.count(b"UID") == 1 and names.count(b"STATUS") == 1 and b"ATTENDEE" not in names
