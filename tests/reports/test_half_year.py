"""The half-year report: publishing freezes its figures; the public version (no sign-in) shows
aggregates only, counts below 5 as "<5", no people's names and no divisions. The first-half
figures of the data set are worked out in test_figures.py."""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from app.core.db import db_session
from app.reports.models import HalfYearReport
from tests import factories
from tests.confirming import press_confirm
from tests.querycount import count_statements
from tests.reports import (
    FY,
    REPORT_AT,
    SETUP_AT,
    charts_of,
    complete,
    jst,
    loads_nothing,
    session_at,
    table_rows,
    table_total,
    travel,
)

URL = f"/reports/half-year?fy={FY}&half=1"
FROZEN_DEPARTMENTS = {"総務部": ["5", "4", "80.0%", "87.5%"], "健康福祉部": ["2", "0", "0.0%", "100.0%"]}


def stats(page: str) -> list[str]:
    return [re.sub(r"\s+", "", s) for s in re.findall(r'<span class="stat-row__n">(.*?)</span>', page)]


def publish(client, narrative: str = "上期は順調に推移した。"):  # type: ignore[no-untyped-def]
    """Press 公表, then confirm on the preview (a refusal answers the first press itself)."""
    token = factories.csrf_token(client, URL)
    response = client.post(URL, data={"csrf_token": token, "narrative": narrative, "action": "publish"})
    return press_confirm(client, response) if response.status_code == 200 else response


def add_more(app, data) -> None:  # type: ignore[no-untyped-def]
    """After publication: 加藤 completes DX基礎研修, and a newcomer to 人事課 is found to have
    taken メンタルヘルス研修 in a session of 1 September that had been missing (上期: 8 places, 6 completed)."""
    from app.catalog.models import Course
    from app.org.models import Employee, Unit

    with app.app_context():  # a new app context: load the rows afresh
        hr, c1 = db_session.get(Employee, data.hr.id), db_session.get(Employee, data.people["c1"].id)
        dx, mh = (db_session.get(Course, data.courses[key].id) for key in ("dx", "mh"))
        newcomer = factories.employee(db_session.get(Unit, data.units["jinji"].id), "SHUNIN", name="新井 後日",
                                      number="R0100")
        complete(hr, c1, dx, date(2025, 12, 1))
        with travel(SETUP_AT):
            factories.enrolment(newcomer, session_at(mh, jst(2025, 9, 1, 10)))
        complete(hr, newcomer, mh, date(2025, 9, 1))
        data.people["newcomer"] = newcomer


def test_a_draft_is_live_and_comments_can_be_saved(app, client, data):
    factories.login_as(client, data.hr)
    page = client.get(URL).get_data(as_text=True)
    assert "作成中：公表するまで数値は随時更新されます。" in page and 'value="publish"' in page
    assert stats(page) == ["7", "4", "57.1%", "88.9%"]
    charts = charts_of(page)  # each beside its table, titled, on 0–100 %
    assert {title: (chart.table, chart.bars) for title, chart in charts.items()} == {
        "部局別の修了率": ("部局別", {"総務部": "80.0%", "健康福祉部": "0.0%"}),
        "職級別の修了率": ("職級別", {"主任級": "80.0%", "主事・技師": "0.0%"}),
        "計画に対する受講者数": ("研修・プログラム別", {"DX基礎研修": "100.0%"})}
    for chart in charts.values():
        assert chart.alt.startswith(f"棒グラフ：{chart.title}（目盛りは0%から100%まで）")
        assert chart.ticks[0] == "0%" and chart.ticks[-1] == "100%" and loads_nothing(chart.svg)
    token = factories.csrf_token(client, URL)
    response = client.post(URL, data={"csrf_token": token, "narrative": "コメント案", "action": "save"})
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    with app.app_context():
        report = db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == FY))
        assert (report.half, report.narrative, report.snapshot, report.published_at) == (1, "コメント案", None, None)
    add_more(app, data)
    assert stats(client.get(URL).get_data(as_text=True)) == ["8", "6", "75.0%", "88.9%"]  # still live


def test_a_published_report_keeps_its_figures_while_the_dashboard_moves_on(app, client, data):
    factories.login_as(client, data.hr)
    response = publish(client)
    assert response.status_code == 302
    page = client.get(URL).get_data(as_text=True)
    assert "報告を公表しました。数値は公表時点で確定しました。" in page
    assert stats(page) == ["7", "4", "57.1%", "88.9%"]
    with app.app_context():
        report = db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == FY,
                                                                HalfYearReport.half == 1))
        assert report.published_at == REPORT_AT and report.published_by_id == data.hr.id
        assert report.snapshot["totals"]["participants"] == 7 and report.public_slug

    add_more(app, data)
    page = client.get(URL).get_data(as_text=True)
    assert stats(page) == ["7", "4", "57.1%", "88.9%"]
    assert table_rows(page, "部局別") == FROZEN_DEPARTMENTS
    assert charts_of(page)["部局別の修了率"].bars == {"総務部": "80.0%", "健康福祉部": "0.0%"}  # frozen too
    assert "数値は公表時点のものです。" in page
    assert 'value="publish"' not in page  # no form on a published report
    dashboard = client.get(f"/reports/dashboard?fy={FY}&half=1").get_data(as_text=True)
    assert stats(dashboard) == ["8", "6", "75.0%", "88.9%"]
    assert table_rows(dashboard, "部局別") == {"総務部": ["6", "5", "83.3%", "87.5%"],
                                                "健康福祉部": ["2", "1", "50.0%", "100.0%"]}

    # publishing again (or editing the comments) is refused, and changes nothing
    response = publish(client, "書き換え")
    assert response.status_code == 302
    assert "公表済みの報告は変更できません。" in client.get(URL).get_data(as_text=True)
    with app.app_context():
        report = db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == FY))
        assert report.narrative == "上期は順調に推移した。" and report.snapshot["totals"]["participants"] == 7

    # the Excel version of the published report is frozen too
    from io import BytesIO

    from openpyxl import load_workbook

    workbook = load_workbook(BytesIO(client.get(f"/reports/half-year.xlsx?fy={FY}&half=1").data), read_only=True)
    rows = list(workbook[workbook.sheetnames[0]].iter_rows(values_only=True))
    assert rows[1:] == [("総務部", 5, 4, 80.0, 87.5), ("健康福祉部", 2, 0, 0.0, 100.0)]
    workbook.close()

    # the second half is a different report, still a live draft; it cannot be published before it ends
    second = client.get(f"/reports/half-year?fy={FY}&half=2").get_data(as_text=True)
    assert stats(second) == ["2", "1", "50.0%", "50.0%"] and 'value="publish"' not in second
    assert "この期はまだ終わっていません。数値が確定する令和8年4月1日（2026年）以降に公表できます。" in second


def test_the_public_version_hides_small_counts_names_and_divisions(app, client, data):
    factories.login_as(client, data.hr)
    publish(client)
    with app.app_context():
        slug = db_session.scalar(select(HalfYearReport.public_slug).where(HalfYearReport.fiscal_year == FY))
    add_more(app, data)

    anonymous = app.test_client()
    response = anonymous.get(f"/public/reports/{slug}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "上期は順調に推移した。" in page
    for person in [*data.people.values(), data.hr]:
        assert person.name not in page and person.employee_number not in page
    for division in ("人事課", "財政課", "医療政策課"):
        assert division not in page
    assert "/reports/drilldown" not in page

    departments = table_rows(page, "部局別")
    # 健康福祉部's 2 places are hidden; with the total of 7 shown, 総務部's 5 would give them away, so it
    # is hidden too (complementary suppression). The 4 completions in all are below 5: the total is
    # hidden, and so are 総務部's 4 (健康福祉部's 0 is shown). No rate built on a hidden count is shown.
    assert departments == {"総務部": ["x", "x", "—", "87.5%"], "健康福祉部": ["x", "0", "—", "—"]}
    assert table_total(page, "部局別") == ["7", "x", "—", "88.9%"]
    assert table_rows(page, "職級別") == {"主任級": ["x", "x", "—", "100.0%"], "主事・技師": ["x", "0", "—", "—"]}
    courses = table_rows(page, "研修・プログラム別")
    assert courses == {"DX基礎研修": ["x", "x", "—", "85.7%", "5", "—", "—", "—"],  # 5 of a plan of 5 would tell
                       "メンタルヘルス研修": ["x", "x", "—", "—", "この期の計画なし（年間 4）", "—", "—", "—"]}
    for table in (departments, courses):
        for cells in table.values():
            for count in cells[:2]:
                assert count == "x" or int(count) == 0 or int(count) >= 5
    # 和暦, with the Western year beside it
    assert "令和7年度（2025年度） 上期" in page and "令和7年12月1日（2025年） 公表（第1版）。" in page
    # every figure still on the page after the numbers moved on is the frozen one
    assert "83.3%" not in page and "75.0%" not in page

    # every completion rate by department is hidden: no chart draws one (and none says "no data")
    assert charts_of(page) == {} and "この期間のデータはありません。" not in page


def test_the_public_version_needs_a_published_report(app, client, data):
    factories.login_as(client, data.hr)
    token = factories.csrf_token(client, URL)
    client.post(URL, data={"csrf_token": token, "narrative": "下書き", "action": "save"})
    anonymous = app.test_client()
    assert anonymous.get("/public/reports/not-a-slug").status_code == 404
    with app.app_context():
        report = db_session.scalar(select(HalfYearReport).where(HalfYearReport.fiscal_year == FY))
        report.public_slug = "draft-slug"
        db_session.commit()
    assert anonymous.get("/public/reports/draft-slug").status_code == 404
    assert anonymous.get(URL).status_code in (302, 401)  # the internal report needs a sign-in


def test_only_hr_may_publish(app, client, data):
    factories.login_as(client, data.people["a1"])
    token = factories.csrf_token(client, "/")
    assert client.post(URL, data={"csrf_token": token, "action": "publish"}).status_code == 403
    with app.app_context():
        assert db_session.scalar(select(HalfYearReport)) is None


def test_half_year_runs_a_fixed_number_of_statements(app, client, data):
    from tests.reports.test_figures import grow

    factories.login_as(client, data.hr)
    client.get(URL)  # warm-up
    with app.app_context():
        grow(data.hr, 0, 1)
    with count_statements(app) as few:
        assert client.get(URL).status_code == 200
    with app.app_context():
        grow(data.hr, 1, 3)
    with count_statements(app) as many:
        page = client.get(URL).get_data(as_text=True)
    assert len(table_rows(page, "部局別")) == 2 + 4
    assert many.count == few.count, many.statements
    # the dashboard's 20 and the report row
    assert many.count <= 21, many.statements

    publish(client)
    with count_statements(app) as published:
        assert client.get(URL).status_code == 200
    # a published report reads its snapshot: user, roles, headed units, report row, unread count
    assert published.count <= 6, published.statements
