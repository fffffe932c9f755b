"""Cancelling a session is previewed before anything happens (issue 18): the first press lists the
places it ends and the people it tells, with the reason, and changes nothing; the confirm cancels
and tells them; if someone enrolled (or left) in between, nothing is cancelled and the new list is
shown with a message."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import RoleName
from app.reminders.models import Notification
from app.scheduling.models import SessionStatus, TrainingSession
from tests import factories
from tests.confirming import confirm_form, press_confirm, text_of
from tests.querycount import count_statements

STALE = "プレビューの後にデータが変わったため、何も変更していません。"


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        session = factories.training_session(factories.course(title_ja="中止される研修"), capacity=1)
        seated, waiting = (factories.employee(factories.unit(), "SHUNIN", name=n) for n in ("受講 一子", "待機 二子"))
        for person in (seated, waiting):
            factories.enrolment(person, session)
        return {"hr": hr, "session": session.id}


def _status(app, session_id: int) -> SessionStatus:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.get(TrainingSession, session_id).status


def _told(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "session_cancelled")) or 0


def _press_cancel(client, session_id: int, reason: str = "講師急病のため"):  # type: ignore[no-untyped-def]
    return factories.post(client, f"/sessions/{session_id}/cancel", {"reason": reason},
                          form_page=f"/sessions/{session_id}/edit")


def test_the_preview_lists_who_is_told_and_cancels_nothing_until_confirmed(app, client, world):
    factories.login_as(client, world["hr"])
    preview = _press_cancel(client, world["session"])
    assert preview.status_code == 200
    assert _status(app, world["session"]) == SessionStatus.SCHEDULED and _told(app) == 0
    page = preview.get_data(as_text=True)
    listed = text_of(page.split('id="cancelled-places"')[1].split("</table>")[0])
    assert "受講 一子" in listed and "待機 二子" in listed and "確定" in listed
    words = text_of(page)
    assert "中止は取り消せません。下の 2 件の申込みはすぐに終了し" in words and "講師急病のため" in words
    assert "戻る（中止しない）" in words and "中止して 2 人に知らせる" in words
    assert dict(confirm_form(page)[1])["reason"] == "講師急病のため"

    done = press_confirm(client, preview)
    assert done.status_code == 302
    assert _status(app, world["session"]) == SessionStatus.CANCELLED and _told(app) == 2


def test_someone_who_enrolled_after_the_preview_stops_the_cancellation(app, client, world):
    factories.login_as(client, world["hr"])
    preview = _press_cancel(client, world["session"])
    with app.app_context():
        late = factories.employee(factories.unit(), "SHUNIN", name="駆込 三子")
        factories.enrolment(late, db_session.get(TrainingSession, world["session"]))
    refused = press_confirm(client, preview)
    assert refused.status_code == 409
    words = text_of(refused.get_data(as_text=True))
    assert STALE in words and "駆込 三子" in words  # the new list names them
    assert _status(app, world["session"]) == SessionStatus.SCHEDULED and _told(app) == 0
    assert press_confirm(client, refused).status_code == 302
    assert _status(app, world["session"]) == SessionStatus.CANCELLED and _told(app) == 3


def test_a_reason_changed_after_the_preview_is_not_sent(app, client, world):
    factories.login_as(client, world["hr"])
    refused = press_confirm(client, _press_cancel(client, world["session"]), reason="別の理由")
    assert refused.status_code == 409 and _status(app, world["session"]) == SessionStatus.SCHEDULED


def test_the_preview_costs_a_fixed_number_of_statements_however_many_are_enrolled(app, client, world):
    factories.login_as(client, world["hr"])
    counts = []
    for more in (0, 20):
        with app.app_context():
            session = db_session.get(TrainingSession, world["session"])
            division = factories.unit()
            for _ in range(more):
                factories.enrolment(factories.employee(division, "SHUNIN"), session)
            expected = db_session.scalar(select(func.count()).select_from(Enrolment).where(
                Enrolment.session_id == world["session"]))
        token = factories.csrf_token(client, f"/sessions/{world['session']}/edit")
        with count_statements(app) as counter:
            response = client.post(f"/sessions/{world['session']}/cancel",
                                   data={"csrf_token": token, "reason": "会場の都合"})
        assert response.status_code == 200
        assert f"中止して {expected} 人に知らせる" in text_of(response.get_data(as_text=True))
        counts.append(counter.count)
    assert counts[0] == counts[1] and counts[1] <= 10, counts
