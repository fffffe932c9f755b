"""The HR figures on a small data set worked out by hand (tests/reports/__init__.py builds it).

Confirmed places, FY2025 (the cancelled place of 佐藤 and the FY2026 session never count):
  DX基礎研修 s1 (上期, 6/10 and 6/17): a1 a2 a3 b1 c1 — completed a1 a2 b1
  DX基礎研修 s2 (10/1 08:30 Tokyo = 9/30 23:30 UTC, so 下期): b2 c2 — completed b2
  メンタルヘルス研修 s3 (上期, 7/8): a1 c3 — completed a1
Divisions: 人事課 a1 a2 a3, 財政課 b1 b2 (both 総務部); 医療政策課 c1 c2 c3 (健康福祉部).
Grades: 主任級 a1 a2 b1 c1; 主事・技師 a3 b2 c2 c3.
Marks (excused never counts): s1 m1 a1 P, a2 P, a3 absent, b1 P, c1 excused; s1 m2 a1 P, a2 late, b1 P;
  s2 b2 P, c2 absent; s3 a1 P, c3 P.

上期: participants 7, completed 4 (57.1%), marks 9, attended 8 (88.9%)
  総務部 5 / 4 (80.0%), marks 8 / 7 (87.5%)      健康福祉部 2 / 0 (0.0%), marks 1 / 1 (100.0%)
  人事課 4 / 3 (75.0%), 6 / 5 (83.3%)   財政課 1 / 1, 2 / 2   医療政策課 2 / 0, 1 / 1
  主任級 5 / 4 (80.0%), 7 / 7 (100.0%)   主事・技師 2 / 0 (0.0%), 2 / 1 (50.0%)
  DX 5 / 3 (60.0%), 7 / 6 (85.7%), half plan 5 → 100.0%   MENTAL 2 / 1 (50.0%), 2 / 2, no half plan (year 4)
下期: participants 2, completed 1 (50.0%), marks 2, attended 1 (50.0%)
  総務部 1 / 1 (100.0%), 1 / 1   健康福祉部 1 / 0 (0.0%), 1 / 0 (0.0%);  主事・技師 2 / 1, 2 / 1
  DX 2 / 1, half plan 3 → 66.7%   MENTAL no places, no half plan (year 4)
Year: participants 9, completed 5 (55.6%), marks 11, attended 9 (81.8%); DX 7 of 8 planned → 87.5%,
  MENTAL 2 of 4 → 50.0%. A half is compared with its own plan only (figures.plan_of).
"""
from __future__ import annotations

import re

from app.org.models import RoleName
from app.reports.figures import Period, compute
from app.reports.models import CoursePlan
from tests import factories
from tests.querycount import count_statements
from tests.reports import FY, REPORT_AT, SETUP_AT, charts_of, jst, loads_nothing, session_at, table_rows, travel

COUNTS = ("participants", "completed", "completion_rate", "marked", "attended", "attendance_rate")


def by_label(rows, fields=COUNTS):  # type: ignore[no-untyped-def]
    return {r["label"]: tuple(r[f] for f in fields) for r in rows}


def test_period_bounds_are_tokyo_midnights():
    first, second, year = Period(FY, 1), Period(FY, 2), Period(FY, None)
    assert (first.start, first.end) == (jst(2025, 4, 1, 0, 0), jst(2025, 10, 1, 0, 0))
    assert (second.start, second.end) == (jst(2025, 10, 1, 0, 0), jst(2026, 4, 1, 0, 0))
    assert (year.start, year.end) == (first.start, second.end)
    assert (first.starts_on.isoformat(), first.ends_on.isoformat()) == ("2025-04-01", "2025-09-30")


def test_first_half_by_department_division_grade_and_course(app, data):
    with app.app_context():
        figures = compute(Period(FY, 1))
    assert figures["period"] == {"fiscal_year": 2025, "half": 1, "starts_on": "2025-04-01", "ends_on": "2025-09-30"}
    assert by_label([figures["totals"]])[""] == (7, 4, 57.1, 9, 8, 88.9)
    assert figures["totals"]["planned"] == 5  # the halves' plans only
    assert by_label(figures["by_department"]) == {"総務部": (5, 4, 80.0, 8, 7, 87.5),
                                                  "健康福祉部": (2, 0, 0.0, 1, 1, 100.0)}
    assert [r["key"] for r in figures["by_department"]] == ["D-SOUMU", "D-FUKUSHI"]
    assert by_label(figures["by_division"]) == {"人事課": (4, 3, 75.0, 6, 5, 83.3),
                                                "財政課": (1, 1, 100.0, 2, 2, 100.0),
                                                "医療政策課": (2, 0, 0.0, 1, 1, 100.0)}
    assert {r["label"]: r["department"] for r in figures["by_division"]} == {
        "人事課": "総務部", "財政課": "総務部", "医療政策課": "健康福祉部"}
    assert by_label(figures["by_grade"]) == {"主任級": (5, 4, 80.0, 7, 7, 100.0), "主事・技師": (2, 0, 0.0, 2, 1, 50.0)}
    assert [r["key"] for r in figures["by_grade"]] == ["SHUNIN", "SHUJI"]  # by rank
    assert by_label(figures["by_course"], (*COUNTS, "planned", "achievement", "annual_planned")) == {
        "DX基礎研修": (5, 3, 60.0, 7, 6, 85.7, 5, 100.0, 8),
        "メンタルヘルス研修": (2, 1, 50.0, 2, 2, 100.0, None, None, 4)}  # no half plan: no comparison


def test_second_half_counts_the_session_of_1_october_tokyo_time(app, data):
    with app.app_context():
        figures = compute(Period(FY, 2))
    assert by_label([figures["totals"]])[""] == (2, 1, 50.0, 2, 1, 50.0)
    assert by_label(figures["by_department"]) == {"総務部": (1, 1, 100.0, 1, 1, 100.0),
                                                  "健康福祉部": (1, 0, 0.0, 1, 0, 0.0)}
    assert by_label(figures["by_grade"]) == {"主事・技師": (2, 1, 50.0, 2, 1, 50.0)}
    assert by_label(figures["by_course"], (*COUNTS, "planned", "achievement", "annual_planned")) == {
        "DX基礎研修": (2, 1, 50.0, 2, 1, 50.0, 3, 66.7, 8),
        "メンタルヘルス研修": (0, 0, None, 0, 0, None, None, None, 4)}  # planned for the year, nobody yet


def test_whole_year_and_the_next_year(app, data):
    with app.app_context():
        year = compute(Period(FY, None))
        next_year = compute(Period(FY + 1, 1))
    assert by_label([year["totals"]])[""] == (9, 5, 55.6, 11, 9, 81.8)
    assert by_label(year["by_department"]) == {"総務部": (6, 5, 83.3, 9, 8, 88.9),
                                               "健康福祉部": (3, 0, 0.0, 2, 1, 50.0)}
    assert by_label(year["by_grade"]) == {"主任級": (5, 4, 80.0, 7, 7, 100.0), "主事・技師": (4, 1, 25.0, 4, 2, 50.0)}
    assert {r["label"]: (r["participants"], r["achievement"]) for r in year["by_course"]} == {
        "DX基礎研修": (7, 87.5), "メンタルヘルス研修": (2, 50.0)}
    # FY2026 holds only 江藤's place in s4; no plan for that year
    assert by_label([next_year["totals"]])[""] == (1, 0, 0.0, 0, 0, None)
    assert year["totals"]["planned"] == 12 and next_year["totals"]["planned"] is None
    assert by_label(next_year["by_course"], ("participants", "planned", "achievement")) == {
        "メンタルヘルス研修": (1, None, None)}


def test_revoked_completions_and_later_plans_change_live_figures(app, data):
    from sqlalchemy import select

    from app.completion.models import Completion
    from app.core.db import db_session

    with app.app_context():
        completion = db_session.scalar(select(Completion).where(Completion.employee_id == data.people["a2"].id))
        completion.revoked_at = REPORT_AT
        completion.revoked_reason = "誤登録"
        db_session.add(CoursePlan(course_id=data.courses["dx"].id, fiscal_year=FY + 1, planned=3))
        db_session.commit()
        figures = compute(Period(FY, 1))
    assert by_label([figures["totals"]])[""] == (7, 3, 42.9, 9, 8, 88.9)
    assert by_label(figures["by_division"])["人事課"][:3] == (4, 2, 50.0)
    assert by_label(figures["by_course"], ("planned", "achievement"))["DX基礎研修"] == (5, 100.0)  # FY2025's


def test_dashboard_shows_the_numbers_beside_the_charts(app, client, data):
    factories.login_as(client, data.hr)
    response = client.get(f"/reports/dashboard?fy={FY}&half=1")
    page = response.get_data(as_text=True)
    # the chart images are data: URIs, which the page's policy allows (and nothing from another host)
    assert "img-src 'self' data:;" in response.headers["Content-Security-Policy"]
    stats = [re.sub(r"\s+", "", s) for s in re.findall(r'<span class="stat-row__n">(.*?)</span>', page)]
    assert stats == ["7", "4", "57.1%", "88.9%"]
    assert table_rows(page, "部局別") == {"総務部": ["5", "4", "80.0%", "87.5%"],
                                           "健康福祉部": ["2", "0", "0.0%", "100.0%"]}
    assert table_rows(page, "職級別") == {"主任級": ["5", "4", "80.0%", "100.0%"],
                                           "主事・技師": ["2", "0", "0.0%", "50.0%"]}
    assert table_rows(page, "研修・プログラム別") == {
        "DX基礎研修": ["5", "3", "60.0%", "85.7%", "5", "100.0%", "—", "—"],
        "メンタルヘルス研修": ["2", "1", "50.0%", "100.0%", "この期の計画なし（年間 4）", "—", "—", "—"]}
    assert table_rows(page, "所属別") == {"人事課": ["4", "3", "75.0%", "83.3%"],
                                          "財政課": ["1", "1", "100.0%", "100.0%"],
                                          "医療政策課": ["2", "0", "0.0%", "100.0%"]}

    # Four charts, each with its title drawn on it, an alt naming it and its table, the table beside
    # it, and every value written after its bar; rates on a fixed 0–100 % axis.
    charts = charts_of(page)
    assert set(charts) == {"部局別の修了率", "部局別の出席率", "職級別の修了率", "計画に対する受講者数"}
    assert charts["部局別の修了率"].bars == {"総務部": "80.0%", "健康福祉部": "0.0%"}
    assert charts["部局別の出席率"].bars == {"総務部": "87.5%", "健康福祉部": "100.0%"}
    assert charts["職級別の修了率"].bars == {"主任級": "80.0%", "主事・技師": "0.0%"}
    assert charts["計画に対する受講者数"].bars == {"DX基礎研修": "100.0%"}  # only what has a plan for the half
    assert charts["計画に対する受講者数"].axis_title == "100% = 計画どおり"
    for title, table in (("部局別の修了率", "部局別"), ("部局別の出席率", "部局別"), ("職級別の修了率", "職級別"),
                         ("計画に対する受講者数", "研修・プログラム別")):
        chart = charts[title]
        assert chart.table == table
        assert chart.alt == f"棒グラフ：{title}（目盛りは0%から100%まで）。数値は表「{table}」にあります。"
        assert chart.ticks[0] == "0%" and chart.ticks[-1] == "100%"
        assert loads_nothing(chart.svg)

    link = re.search(r'href="(/reports/drilldown\?[^"]*department=D-SOUMU[^"]*)"', page)
    assert link, "the department figure links to the people behind it"
    drill = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert ({p.name for p in data.people.values() if p.name in drill}
            == {data.people[k].name for k in ("a1", "a2", "a3", "b1")})


def test_dashboard_second_half(app, client, data):
    factories.login_as(client, data.hr)
    page = client.get(f"/reports/dashboard?fy={FY}&half=2").get_data(as_text=True)
    assert table_rows(page, "部局別") == {"総務部": ["1", "1", "100.0%", "100.0%"],
                                          "健康福祉部": ["1", "0", "0.0%", "0.0%"]}


def test_dashboards_are_for_hr_only(app, client, data):
    factories.login_as(client, data.people["a1"])
    assert client.get(f"/reports/dashboard?fy={FY}").status_code == 403
    assert client.get(f"/reports/export/enrolments.csv?fy={FY}").status_code == 403


# --- statement counts -------------------------------------------------------------------------


def grow(hr, first: int, scale: int) -> None:  # type: ignore[no-untyped-def]
    """`scale` departments, each with two divisions of three people in both grades, a course with a
    plan, a first-half session with everyone in it, marks and completions, and a cohort."""
    from app.attendance.models import AttendanceStatus
    from app.cohorts.models import Cohort
    from app.core.db import db_session
    from tests.reports import complete, mark, plan

    for n in range(first, first + scale):
        department = factories.unit(f"部局{n}")
        people = [factories.employee(factories.unit(f"課{n}-{d}", department), grade)
                  for d in range(2) for grade in ("SHUNIN", "SHUJI", "SHUNIN")]
        course = factories.course(f"GROW-{n}", title_ja=f"研修{n}", grades=("SHUNIN", "SHUJI"))
        plan(course, 10)
        with travel(SETUP_AT):
            session = session_at(course, jst(2025, 5, 10 + n, 10), jst(2025, 8, 10 + n, 10))
            enrolments = [factories.enrolment(p, session) for p in people]
        for index, (person, enrolment) in enumerate(zip(people, enrolments, strict=True)):
            for meeting in session.meetings:
                mark(enrolment, meeting, AttendanceStatus.PRESENT if index % 3 else AttendanceStatus.ABSENT)
            if index % 2:
                complete(hr, person, course, jst(2025, 8, 20).date())
        cohort = factories.cohort()
        db_session.get(Cohort, cohort.id).fiscal_year = FY
        db_session.commit()


def test_dashboard_runs_a_fixed_number_of_statements(app, client, data):
    factories.login_as(client, data.hr)
    url = f"/reports/dashboard?fy={FY}&half=1"
    client.get(url)  # warm-up
    with app.app_context():
        grow(data.hr, 0, 1)
    with count_statements(app) as few:
        assert client.get(url).status_code == 200
    with app.app_context():
        grow(data.hr, 1, 3)
    with count_statements(app) as many:
        page = client.get(url).get_data(as_text=True)
    assert len(table_rows(page, "部局別")) == 2 + 4 and len(table_rows(page, "研修・プログラム別")) == 2 + 4
    assert len(table_rows(page, "スマート人材育成")) == 4
    assert len(charts_of(page)["部局別の出席率"].bars) == 2 + 4  # the charts grow with the tables, no query
    assert many.count == few.count, many.statements
    # user, roles, headed units, units, grades, courses, plans, participation, attendance, quizzes,
    # survey questions, surveys, responses, cohorts + 5 grouped cohort aggregates, unread count
    assert many.count <= 20, many.statements


def test_a_period_without_data_shows_empty_tables(app, client, clock):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
    factories.login_as(client, hr)
    page = client.get("/reports/dashboard?fy=2019&half=2").get_data(as_text=True)
    assert table_rows(page, "部局別") == {"この期間のデータはありません。": []}


def test_dashboard_defaults_to_the_current_fiscal_year(app, client, clock):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
    factories.login_as(client, hr)
    page = client.get("/reports/dashboard").get_data(as_text=True)
    assert re.search(r'<option value="2025"\s+selected', page)
