"""Publishing the half-year report, and publishing a correction, are previewed first (issue 18): the
first press shows the figures to be frozen, the comments and, in plain Japanese, that it cannot be
undone, and writes nothing; the confirm publishes exactly that; if the figures changed in between,
nothing is published and the new figures are shown with a message."""
from __future__ import annotations

from sqlalchemy import select

from app.core.db import db_session
from app.reports.models import HalfYearReport
from tests import factories
from tests.confirming import confirm_form, press_confirm, text_of
from tests.querycount import count_statements
from tests.reports import FY
from tests.reports.test_half_year import URL, add_more, publish, stats

STALE = "プレビューの後にデータが変わったため、何も変更していません。"


def _reports(app) -> list[tuple[int, bool]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return [(r.version, r.published_at is not None) for r in db_session.scalars(
            select(HalfYearReport).where(HalfYearReport.fiscal_year == FY).order_by(HalfYearReport.version))]


def _press_publish(client, narrative: str = "上期は順調。"):  # type: ignore[no-untyped-def]
    return factories.post(client, URL, {"narrative": narrative, "action": "publish"}, form_page=URL)


def test_publishing_shows_what_is_frozen_and_changes_nothing_until_confirmed(app, client, data):
    factories.login_as(client, data.hr)
    preview = _press_publish(client)
    assert preview.status_code == 200
    assert _reports(app) == []  # not even a draft
    page = preview.get_data(as_text=True)
    words = text_of(page)
    assert "半期報告を公表しますか？" in words
    assert "公表すると取り消せません。" in words and "正誤表を新しい版として公表します" in words
    assert "上期は順調。" in words and "総務部" in words  # the comments and the figures to be frozen
    assert "キャンセル（作成中の報告に戻る）" in words
    assert dict(confirm_form(page)[1])["action"] == "publish"

    done = press_confirm(client, preview)
    assert done.status_code == 302
    assert _reports(app) == [(1, True)]
    assert stats(client.get(URL).get_data(as_text=True)) == ["7", "4", "57.1%", "88.9%"]


def test_figures_that_changed_after_the_preview_are_not_published(app, client, data):
    factories.login_as(client, data.hr)
    preview = _press_publish(client)
    add_more(app, data)  # a completion and a forgotten session are recorded meanwhile
    refused = press_confirm(client, preview)
    assert refused.status_code == 409
    assert STALE in text_of(refused.get_data(as_text=True))
    assert _reports(app) == []  # nothing published
    assert press_confirm(client, refused).status_code == 302  # the new figures, seen and confirmed
    with app.app_context():
        report = db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == FY))
        assert report.snapshot["totals"]["participants"] == 8 and report.narrative == "上期は順調。"


def test_a_correction_shows_the_figures_before_and_after_and_needs_confirming(app, client, data):
    factories.login_as(client, data.hr)
    publish(client)
    add_more(app, data)
    preview = factories.post(client, URL, {"narrative": "訂正後", "reason": "計上漏れ", "action": "correct",
                                           "version": "1"}, form_page=URL)
    assert preview.status_code == 200 and _reports(app) == [(1, True)]
    page = preview.get_data(as_text=True)
    words = text_of(page)
    assert "この訂正版を公表しますか？" in words and "訂正版の公表は取り消せません。" in words and "計上漏れ" in words
    totals = text_of(page.split('id="preview-totals"')[1].split("</table>")[0])
    assert "第1版（公表済み）" in totals and "第2版（訂正版）" in totals
    assert " 7 " in totals and " 8 " in totals  # participants before and after
    assert press_confirm(client, preview).status_code == 302
    assert _reports(app) == [(1, True), (2, True)]


def test_a_tampered_confirmation_changes_nothing(app, client, data):
    factories.login_as(client, data.hr)
    refused = press_confirm(client, _press_publish(client), narrative="書き換えた総括")
    assert refused.status_code == 409 and _reports(app) == []


def test_the_preview_costs_a_fixed_number_of_statements(app, client, data):
    from tests.reports.test_figures import grow

    factories.login_as(client, data.hr)
    _press_publish(client)  # warm-up
    counts = []
    for start, end in ((0, 1), (1, 3)):
        with app.app_context():
            grow(data.hr, start, end)
        token = factories.csrf_token(client, URL)
        with count_statements(app) as counter:
            response = client.post(URL, data={"csrf_token": token, "narrative": "", "action": "publish"})
        assert response.status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1] and counts[1] <= 24, counts
