"""A half-year report is published only once its half is over, and a published report is corrected
by an erratum: a new version that names the one it corrects, both kept and readable, the public
page showing the latest with the date and reason of the correction and a link to the previous one.
The public figures (page, CSV, Excel) go through complementary suppression; dates are in 和暦."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.clock import TOKYO
from app.core.db import db_session
from app.reports import figures as fig
from app.reports import transitions
from app.reports.models import HalfYearReport
from tests import factories
from tests.confirming import press_confirm
from tests.reports import FY, table_rows, table_total, travel
from tests.reports.test_half_year import URL, add_more, publish

SECOND = f"/reports/half-year?fy={FY}&half=2"


def versions(app) -> list[HalfYearReport]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = list(db_session.scalars(select(HalfYearReport).order_by(HalfYearReport.half, HalfYearReport.version)))
        for row in rows:
            db_session.expunge(row)
        return rows


def audited(app, action: str) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def correct(client, reason: str, narrative: str = "訂正後の概要", version: str = "1"):  # type: ignore[no-untyped-def]
    """Press 訂正版を公表, then confirm on the preview (a refusal answers the first press itself)."""
    response = factories.post(client, URL, {"narrative": narrative, "reason": reason, "action": "correct",
                                            "version": version}, form_page=URL)
    return press_confirm(client, response) if response.status_code == 200 else response


# --- publishing only after the half ----------------------------------------------------------------


def test_a_half_still_running_cannot_be_published(app, client, data):
    factories.login_as(client, data.hr)
    page = client.get(SECOND).get_data(as_text=True)  # 1 December 2025: 下期 runs to 31 March 2026
    assert 'value="publish"' not in page and 'value="save"' in page
    assert "令和8年4月1日（2026年）以降に公表できます" in page
    response = factories.post(client, SECOND, {"narrative": "早すぎる公表", "action": "publish"}, form_page=SECOND)
    assert response.status_code == 302
    told = client.get(SECOND).get_data(as_text=True)
    assert "報告は期が終わってから公表できます（令和8年4月1日（2026年）以降）。" in told
    assert [(v.half, v.published_at) for v in versions(app)] == []  # nothing written, not even the draft


@pytest.mark.parametrize(("at", "allowed"), [(datetime(2026, 3, 31, 23, 59, tzinfo=TOKYO), False),
                                             (datetime(2026, 4, 1, 0, 0, tzinfo=TOKYO), True)])
def test_the_half_ends_at_midnight_tokyo_time(app, data, at, allowed):
    with app.app_context(), travel(at):
        report = transitions.ensure_draft(FY, 2)
        if allowed:
            transitions.publish(report, data.hr, "", {"totals": {}})
            assert report.published_at == at
        else:
            with pytest.raises(transitions.HalfNotOver):
                transitions.publish(report, data.hr, "", {"totals": {}})
            assert report.published_at is None


# --- errata ------------------------------------------------------------------------------------------


def test_a_correction_is_a_new_version_and_the_old_one_stays(app, client, data):
    factories.login_as(client, data.hr)
    publish(client)
    [first] = versions(app)
    add_more(app, data)  # a session of 1 September was missing: 上期 has 8 places, not 7

    page = client.get(URL).get_data(as_text=True)
    assert "訂正版の公表" in page and 'value="correct"' in page and 'name="version" value="1"' in page

    response = correct(client, "")  # a correction must say why
    assert response.status_code == 400
    assert "訂正の内容と理由を入力してください。報告の読み手に表示されます。" in response.get_data(as_text=True)
    assert len(versions(app)) == 1

    with travel(datetime(2025, 12, 1, 15, 30, tzinfo=TOKYO)):  # the rest of the day, still signed in
        response = correct(client, "9月1日の研修の受講者を計上漏れ")
        assert response.status_code == 302
        page = client.get(URL).get_data(as_text=True)
        assert "訂正版を公表しました。" in page
        assert "令和7年12月1日（2025年） 訂正（9月1日の研修の受講者を計上漏れ）。" in page
        old, new = versions(app)
        assert (old.id, old.version, old.narrative, old.snapshot["totals"]["participants"]) == (
            first.id, 1, "上期は順調に推移した。", 7)
        assert old.superseded_at is not None and old.public_slug == first.public_slug
        assert (new.version, new.previous_id, new.narrative, new.correction_reason) == (
            2, old.id, "訂正後の概要", "9月1日の研修の受講者を計上漏れ")
        assert new.snapshot["totals"]["participants"] == 8 and new.public_slug != old.public_slug
        assert new.published_by_id == data.hr.id
        assert audited(app, "reports.half_year_corrected") == 1

        # the same version cannot be corrected twice (a second tab, a double click)
        assert correct(client, "二重").status_code == 302
        assert "この版は既に訂正されています。最新の版を表示しています。" in client.get(URL).get_data(as_text=True)
        assert len(versions(app)) == 2 and audited(app, "reports.half_year_corrected") == 1
        # the latest can be corrected again
        assert correct(client, "再訂正", version="2").status_code == 302
        assert [v.version for v in versions(app)] == [1, 2, 3]

        anonymous = app.test_client()
        latest = anonymous.get(f"/public/reports/{versions(app)[2].public_slug}").get_data(as_text=True)
        assert "訂正（再訂正）" in latest and f'href="/public/reports/{new.public_slug}"' in latest
        previous = anonymous.get(f"/public/reports/{old.public_slug}")
        assert previous.status_code == 200
        text = previous.get_data(as_text=True)
        assert "この版は令和7年12月1日（2025年）に訂正されました。参考のため掲載を続けています。" in text
        assert f'href="/public/reports/{versions(app)[2].public_slug}"' in text  # to the current version
        assert table_total(text, "部局別")[0] == "7"  # the old version keeps its figures
        middle = anonymous.get(f"/public/reports/{new.public_slug}").get_data(as_text=True)
        assert "訂正（9月1日の研修の受講者を計上漏れ）" in middle and table_total(middle, "部局別")[0] == "8"
        assert f'href="/public/reports/{old.public_slug}"' in middle  # to the one it corrects


def test_a_draft_cannot_be_corrected(app, client, data):
    factories.login_as(client, data.hr)
    factories.post(client, URL, {"narrative": "下書き", "action": "save"}, form_page=URL)
    assert correct(client, "理由").status_code == 302
    assert "訂正できるのは公表済みの報告だけです。" in client.get(URL).get_data(as_text=True)
    assert [(v.version, v.published_at) for v in versions(app)] == [(1, None)]


def test_the_database_refuses_an_erratum_without_its_reason_or_previous_version(app, data):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        report = transitions.ensure_draft(FY, 1)
        db_session.flush()
        for bad in ({"previous_id": report.id, "correction_reason": None},
                    {"previous_id": None, "correction_reason": "x"}):
            with pytest.raises(IntegrityError), db_session.begin_nested():
                db_session.add(HalfYearReport(fiscal_year=FY, half=1, version=2, narrative="", published_at=None,
                                              public_slug="s-" + str(bad["previous_id"]), **bad))
                db_session.flush()


# --- the public figures, everywhere ----------------------------------------------------------------


def test_the_public_csv_and_excel_show_what_the_page_shows(app, client, data):
    factories.login_as(client, data.hr)
    publish(client)
    [report] = versions(app)
    anonymous = app.test_client()
    page = anonymous.get(f"/public/reports/{report.public_slug}").get_data(as_text=True)
    assert f"/public/reports/{report.public_slug}/figures.csv" in page

    response = anonymous.get(f"/public/reports/{report.public_slug}/figures.csv")
    assert response.status_code == 200 and response.headers["Content-Disposition"].endswith(
        f'filename="training-report-{FY}-h1-v1.csv"')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["表", "区分", "受講者", "修了"]
    by_department = {r[1]: r[2:6] for r in rows[1:] if r[0] == "部局別"}
    assert by_department == {"総務部": ["x", "x", "", "87.5"], "健康福祉部": ["x", "0", "", ""],
                             "合計": ["7", "x", "", "88.9"]}
    assert by_department["総務部"][:2] == [c.replace("—", "") for c in table_rows(page, "部局別")["総務部"][:2]]
    for person in data.people.values():
        assert person.name not in response.get_data(as_text=True)

    workbook = load_workbook(BytesIO(anonymous.get(f"/public/reports/{report.public_slug}/figures.xlsx").data),
                             read_only=True)
    sheet = list(workbook[workbook.sheetnames[0]].iter_rows(values_only=True))
    assert [r[1:4] for r in sheet if r[0] == "研修・プログラム別"] == [
        ("DX基礎研修", "x", "x"), ("メンタルヘルス研修", "x", "x"), ("合計", 7, "x")]
    workbook.close()
    assert anonymous.get("/public/reports/nope/figures.csv").status_code == 404


def test_the_public_page_never_leaves_a_lone_hidden_count(app, client, data):
    from app.reports.suppression import has_lone_hidden_cell, suppress

    with app.app_context():
        for half in (1, 2, None):
            assert not has_lone_hidden_cell(suppress(fig.compute(fig.Period(FY, half))))


def test_the_public_page_runs_a_fixed_number_of_statements(app, client, data):
    from tests.querycount import count_statements

    factories.login_as(client, data.hr)
    publish(client)
    anonymous = app.test_client()
    slug = versions(app)[0].public_slug
    anonymous.get(f"/public/reports/{slug}")  # warm-up
    with count_statements(app) as one:
        assert anonymous.get(f"/public/reports/{slug}").status_code == 200
    correct(client, "一度目")
    correct(client, "二度目", version="2")
    with count_statements(app) as three:
        assert anonymous.get(f"/public/reports/{slug}").status_code == 200
    assert three.count == one.count <= 3, three.statements  # the version, its siblings (and a user lookup)
