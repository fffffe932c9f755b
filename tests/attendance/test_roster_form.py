"""The roster's form (app/attendance/forms.py): a refused save is a 400 that names the row and the
field and saves nothing, not even the rows that were right; the posted values and the marks as
the page first showed them ("was-") survive the round trip; and what `changes()` makes of the
"was-" values, which keep a save from overwriting a check-in."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.attendance import services
from app.attendance.forms import RosterRow, roster_form
from app.attendance.models import AttendanceMark, AttendanceStatus
from app.audit.models import AuditEvent
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee, RoleName
from app.scheduling.models import Meeting
from tests import factories

FIX = "下の印の付いた項目を修正してください。"


@pytest.fixture
def roster(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("出欠入力課")
        instructor = factories.employee(division, "SHUSA", roles=(RoleName.INSTRUCTOR,))
        staff = [factories.employee(division, "SHUNIN", name=f"入力 太郎{i}") for i in range(2)]
        session = factories.training_session(factories.course(), starts_in=timedelta(days=3), capacity=2,
                                             instructors=[instructor])
        enrolments = [factories.enrolment(person, session).id for person in staff]
        meeting = session.meetings[0]
        return {"instructor": instructor, "enrolments": enrolments, "meeting": meeting.id,
                "starts_at": meeting.starts_at}


def _post(app, roster, data):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, roster["instructor"])
    path = f"/attendance/meetings/{roster['meeting']}"
    return factories.post(client, path, data, form_page=path)


def _nothing_saved(app, roster) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        assert db_session.scalars(select(AttendanceMark).where(
            AttendanceMark.meeting_id == roster["meeting"])).all() == []
        assert db_session.scalars(select(AuditEvent).where(AuditEvent.action == "attendance.marked")).all() == []


def _error_of(page: str, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', page, re.S)
    assert match, f"no error shown for {field_id}"
    return html.unescape(match.group(1))


def test_a_status_not_in_the_list_is_a_400_naming_the_person_and_saves_nothing(app, roster):
    a, b = roster["enrolments"]
    with time_machine.travel(roster["starts_at"] + timedelta(minutes=5), tick=False):
        response = _post(app, roster, {f"status-{a}": "present", f"status-{b}": "teleported",
                                       f"remark-{b}": "転送中"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert FIX in page
    assert _error_of(page, f"status-{b}") == "入力 太郎1 さんの出欠: 一覧にある出欠の区分から選んでください。"
    assert f'aria-describedby="status-{b}-error"' in page and 'aria-invalid="true"' in page
    assert f"status-{a}-error" not in page  # the right row is not marked as wrong
    assert 'value="転送中"' in page  # what was typed is shown again
    _nothing_saved(app, roster)  # not even the valid row


@pytest.mark.parametrize(("remark", "why"), [
    ("あ" * 301, "300文字以内で入力してください（301文字あります）。"),
    ("遅刻\x1b[31m", "制御文字は使えません（U+001B が含まれています）"),
    ("遅刻\u202e", "文字の向きを変える制御文字は使えません（U+202E が含まれています）"),
    ("一行目\n二行目", "改行"),
])
def test_an_overlong_or_unsafe_remark_is_a_400_naming_the_field_and_saves_nothing(app, roster, remark, why):
    a, b = roster["enrolments"]
    with time_machine.travel(roster["starts_at"] + timedelta(minutes=5), tick=False):
        response = _post(app, roster, {f"status-{a}": "present", f"status-{b}": "late", f"remark-{b}": remark})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = _error_of(page, f"remark-{b}")
    assert error.startswith("入力 太郎1 さんの備考: ") and why in error
    assert f'aria-describedby="remark-{b}-error"' in page
    _nothing_saved(app, roster)


def test_a_refused_save_keeps_what_the_page_first_showed(app, roster):
    """The page after a 400 still carries the "was-" values of the first page, so that saving it
    again still leaves alone a mark someone changed meanwhile."""
    a, b = roster["enrolments"]
    with time_machine.travel(roster["starts_at"] + timedelta(minutes=5), tick=False):
        response = _post(app, roster, {f"status-{a}": "absent", f"was-status-{a}": "", f"was-remark-{a}": "",
                                       f"status-{b}": "late", f"remark-{b}": "x" * 301,
                                       f"was-status-{b}": "", f"was-remark-{b}": ""})
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert re.search(rf'<input id="was-status-{a}" name="was-status-{a}" type="hidden" value="">', page)
        assert re.search(r'<option value="absent"\s+selected', page.split(f'name="status-{a}"')[1])
        with app.app_context():  # meanwhile a checks in (or someone else marks them)
            instructor = db_session.get(Employee, roster["instructor"].id)
            services.set_mark(instructor, db_session.get(Enrolment, a), db_session.get(Meeting, roster["meeting"]),
                              AttendanceStatus.PRESENT)
            db_session.commit()
        response = _post(app, roster, {f"status-{a}": "absent", f"was-status-{a}": "", f"was-remark-{a}": "",
                                       f"status-{b}": "late", f"remark-{b}": "10分遅れ",
                                       f"was-status-{b}": "", f"was-remark-{b}": ""})
        assert response.status_code == 302
    with app.app_context():
        got = {m.enrolment_id: (m.status, m.remark) for m in db_session.scalars(
            select(AttendanceMark).where(AttendanceMark.meeting_id == roster["meeting"]))}
    assert got == {a: (AttendanceStatus.PRESENT, ""), b: (AttendanceStatus.LATE, "10分遅れ")}


def test_the_page_shows_the_recorded_marks_in_the_form(app, roster):
    a, b = roster["enrolments"]
    with time_machine.travel(roster["starts_at"] + timedelta(minutes=5), tick=False):
        assert _post(app, roster, {f"status-{a}": "excused", f"remark-{a}": "公務のため"}).status_code == 302
        client = app.test_client()
        factories.login_as(client, roster["instructor"])
        page = client.get(f"/attendance/meetings/{roster['meeting']}").get_data(as_text=True)
    assert f'<input id="was-status-{a}" name="was-status-{a}" type="hidden" value="excused">' in page
    assert f'<input id="was-remark-{a}" name="was-remark-{a}" type="hidden" value="公務のため">' in page
    assert f'<input id="was-status-{b}" name="was-status-{b}" type="hidden" value="">' in page
    assert re.search(rf'id="remark-{a}" maxlength="300" name="remark-{a}" type="text" value="公務のため"', page)
    assert "field-error" not in page and FIX not in page
    # a refused POST that did not say what it was shown: the page shown again says what is recorded
    with time_machine.travel(roster["starts_at"] + timedelta(minutes=6), tick=False):
        response = _post(app, roster, {f"status-{b}": "teleported"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'<input id="was-status-{a}" name="was-status-{a}" type="hidden" value="excused">' in page
    assert f'<input id="was-remark-{a}" name="was-remark-{a}" type="hidden" value="公務のため">' in page


# --- what the form makes of a POST ------------------------------------------------------------


def _changes(app, data: dict[str, str]) -> list[tuple[int, str, str, object]]:  # type: ignore[no-untyped-def]
    with app.test_request_context(method="POST", data=MultiDict(data)):
        form = roster_form([RosterRow(1, "甲"), RosterRow(2, "乙")], meta={"csrf": False})
        assert form.validate_on_submit(), form.errors
        return [(c.enrolment_id, c.status.value, c.remark, c.seen) for c in form.changes()]


def test_changes_compare_with_what_the_page_showed(app):
    assert _changes(app, {"status-1": "present", "status-2": ""}) == [(1, "present", "", services.AS_READ)]
    # shown as it is posted: not a change; shown with no mark: seen is None
    assert _changes(app, {"status-1": "late", "remark-1": "5分", "was-status-1": "late", "was-remark-1": "5分",
                          "status-2": "absent", "was-status-2": "", "was-remark-2": ""}) == [
        (2, "absent", "", None)]
    # a changed remark is a change, seen as shown
    assert _changes(app, {"status-1": "late", "remark-1": "10分", "was-status-1": "late", "was-remark-1": "5分"}) == [
        (1, "late", "10分", services.Seen(AttendanceStatus.LATE, "5分"))]
    # rows the form was not built for (people who joined later, other sessions) are not read
    assert _changes(app, {"status-3": "present", "status-999999": "absent"}) == []
    # a "was-status" that is not a status: as if the page showed no mark
    assert _changes(app, {"status-1": "present", "was-status-1": "bogus"}) == [(1, "present", "", None)]


def test_mark_all_present_needs_no_row_fields(app):
    with app.test_request_context(method="POST", data={"action": "all_present"}):
        form = roster_form([RosterRow(1, "甲")], meta={"csrf": False})
        assert form.validate_on_submit() and form.is_all_present and form.changes() == []
