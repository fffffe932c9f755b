"""Bulk enrolment is previewed before anything happens (issue 18): the first submit lists who would
get a seat, who goes to the waitlist because the seats run out, who already has a place, who the
rules refuse and who is told by e-mail, and changes nothing; the confirm applies exactly that, or,
if the session changed in between, nothing, with a message and the new preview."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.db import db_session
from app.enrollment.models import Enrolment, EnrolmentState
from app.org.models import RoleName
from app.reminders.models import Notification
from tests import factories
from tests.confirming import confirm_form, press_confirm, text_of
from tests.querycount import count_statements

STALE = "プレビューの後にデータが変わったため、何も変更していません。"


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("一括申込検証課")
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        staff = [factories.employee(division, "SHUNIN", name=f"一括 花子{i}") for i in range(3)]
        seated = factories.employee(division, "SHUNIN", name="既存 次郎")
        kacho = factories.employee(division, "KACHO", name="課長 三郎")
        session = factories.training_session(factories.course("BULK-1", title_ja="一括研修"), capacity=3)
        factories.enrolment(seated, session)  # one seat of three is taken: two are free
        return {"hr": hr, "staff": staff, "seated": seated, "kacho": kacho, "session": session.id,
                "numbers": [p.employee_number for p in (*staff, seated, kacho)] + ["Z99999"]}


def _count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.scalar(select(func.count()).select_from(model)) or 0


def _places(app, session_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return {e.employee.name: e.state.value for e in db_session.scalars(
            select(Enrolment).where(Enrolment.session_id == session_id))}


def _submit(client, world):  # type: ignore[no-untyped-def]
    return factories.post(client, f"/sessions/{world['session']}/enrol-many", {"numbers": "\n".join(world["numbers"])},
                          form_page=f"/sessions/{world['session']}/enrolments")


def test_the_first_submit_previews_who_is_enrolled_waitlisted_and_told_and_changes_nothing(app, client, world):
    factories.login_as(client, world["hr"])
    before = (_count(app, Enrolment), _count(app, Notification))
    preview = _submit(client, world)
    assert preview.status_code == 200
    assert (_count(app, Enrolment), _count(app, Notification)) == before  # nothing written, nobody told
    page = preview.get_data(as_text=True)
    words = text_of(page)
    assert "この人たちを申し込みますか？" in words and "まだ誰も申し込んでいません。" in words
    assert "確定すると、すぐに 3 通のメールが送られます。" in words
    seats, waitlist, already, refused = (text_of(section) for section in (
        page.split('id="bulk-confirmed"')[1].split("</section>")[0],
        page.split('id="bulk-waitlisted"')[1].split("</section>")[0],
        page.split('id="bulk-already"')[1].split("</section>")[0],
        page.split('id="bulk-refused"')[1].split("</section>")[0]))
    assert "一括 花子0" in seats and "一括 花子1" in seats and "一括 花子0（本人へ申込み結果）" in seats
    assert "一括 花子2" in waitlist and "一括 花子2" not in seats  # the two free seats run out first
    assert "既存 次郎" in already and "課長 三郎" in refused and "職級の対象ではありません" in refused
    assert "Z99999" in text_of(page.split('id="bulk-unknown"')[1])
    assert "キャンセル（受講者一覧に戻る）" in words  # a way back that changes nothing
    action, fields = confirm_form(page)
    assert action == f"/sessions/{world['session']}/enrol-many" and dict(fields)["fingerprint"]


def test_confirming_enrols_exactly_what_was_previewed_and_tells_them(app, client, world):
    factories.login_as(client, world["hr"])
    told_before = _count(app, Notification)
    done = press_confirm(client, _submit(client, world))
    assert done.status_code == 200 and "3 人を申し込み、3 人は申し込めませんでした" in done.get_data(as_text=True)
    assert _places(app, world["session"]) == {"既存 次郎": "confirmed", "一括 花子0": "confirmed",
                                             "一括 花子1": "confirmed", "一括 花子2": "waitlisted"}
    assert _count(app, Notification) >= told_before + 3  # each of the three is told of their place


def test_a_stale_confirmation_is_refused_with_a_message_and_nothing_is_applied(app, client, world):
    factories.login_as(client, world["hr"])
    preview = _submit(client, world)
    with app.app_context():  # meanwhile someone takes one of the two free seats
        from app.scheduling.models import TrainingSession

        late = factories.employee(factories.unit(), "SHUNIN", name="先着 四郎")
        factories.enrolment(late, db_session.get(TrainingSession, world["session"]))
    refused = press_confirm(client, preview)
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert STALE in text_of(page)
    assert _places(app, world["session"]) == {"既存 次郎": "confirmed", "先着 四郎": "confirmed"}  # nothing applied
    waitlist = text_of(page.split('id="bulk-waitlisted"')[1].split("</section>")[0])
    assert "一括 花子1" in waitlist and "一括 花子2" in waitlist  # the new preview: one seat is left
    assert press_confirm(client, refused).status_code == 200  # confirming what is shown now applies it
    assert _places(app, world["session"])["一括 花子1"] == EnrolmentState.WAITLISTED.value


def test_the_preview_costs_a_fixed_number_of_statements_however_many_people(app, client, world):
    factories.login_as(client, world["hr"])
    path, form_page = f"/sessions/{world['session']}/enrol-many", f"/sessions/{world['session']}/enrolments"
    with app.app_context():
        division = factories.unit("大人数課")
        many = [factories.employee(division, "SHUNIN").employee_number for _ in range(40)]
    counts = []
    for numbers in (many[:4], many):
        token = factories.csrf_token(client, form_page)
        with count_statements(app) as counter:
            response = client.post(path, data={"csrf_token": token, "numbers": "\n".join(numbers)})
        assert response.status_code == 200 and many[0] in response.get_data(as_text=True)
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    assert counts[1] <= 16, counts
