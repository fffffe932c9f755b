"""HR's compliance view of mandatory training: the counts (assigned, done, overdue, due within 30
days) by department, unit, grade and course, its filters, the people behind every count, the
exports, who may open it, and a fixed number of statements whatever the number of staff.

Today is 2025-12-01 (FY2025 下期). The rules, all FY2025 unless said:
  SEC   情報セキュリティ研修  主任級, due 2025-11-20 (overdue unless done)
  ETH   公務員倫理研修        主任級, due 2026-02-27 (more than 30 days away: "not yet due")
  DOC   文書事務研修          主事級, due 2025-12-20 (due within 30 days)
  HALF  上期必修研修          主事級, due 2025-09-10 (上期; overdue)
  SEC   (FY2024)             主任級, due 2024-11-20

  総務部 ─ 人事課  青木 (主任: SEC done, ETH)     石井 (主事: DOC, HALF)
         │        └ 給与室 上田 (主任: SEC, ETH done)
         └ 財政課  江藤 (主任: SEC done but revoked, ETH)  大野 (主事: DOC done, HALF)
  健康福祉部 ─ 福祉課 木村 (主任: SEC, ETH)  工藤 (主事: DOC, HALF)  退職 (主事, left after assigning)

FY2025 in all: assigned 14, done 3, overdue 6 (SEC 上田 江藤 木村, HALF 石井 大野 工藤), due soon 2
(DOC 石井 工藤). 総務部 10 / 3 / 4 / 1, 健康福祉部 4 / 0 / 2 / 1.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text, update

from app.catalog.models import Assignment, AssignmentRule, Course
from app.catalog.services import evaluate_rule
from app.completion.models import Completion
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit
from app.reports import compliance as comp
from tests import factories
from tests.querycount import count_statements
from tests.reports import REPORT_AT, charts_of, loads_nothing, text_of, travel

MEASURES = ("assigned", "done", "overdue", "due_soon")


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    with travel(REPORT_AT):
        yield


@pytest.fixture
def world(app, clock):  # type: ignore[no-untyped-def]
    from app.completion.services import record_manual_completion

    with app.app_context():
        soumu = factories.unit("総務部", code="D-SOUMU")
        jinji = factories.unit("人事課", soumu, code="S-JINJI")
        kyuyo = factories.unit("給与室", jinji, code="S-KYUYO")
        zaisei = factories.unit("財政課", soumu, code="S-ZAISEI")
        fukushi = factories.unit("健康福祉部", code="D-FUKUSHI")
        fukushika = factories.unit("福祉課", fukushi, code="F-FUKUSHI")
        hr = factories.employee(factories.unit("人事委員会", code="D-HR"), "SHUSA", roles=(RoleName.HR,),
                                name="人事 担当")
        admin = factories.employee(soumu, "SHUSA", roles=(RoleName.ADMIN,), name="管理 者")
        manager = factories.employee(soumu, "BUCHO", heads=soumu, name="総務 部長")
        staff = {"aoki": factories.employee(jinji, "SHUNIN", name="青木 一郎", number="C001"),
                 "ishii": factories.employee(jinji, "SHUJI", name="石井 花子", number="C002"),
                 "ueda": factories.employee(kyuyo, "SHUNIN", name="上田 健", number="C003"),
                 "eto": factories.employee(zaisei, "SHUNIN", name="江藤 聡", number="C004"),
                 "ono": factories.employee(zaisei, "SHUJI", name="大野 愛", number="C005"),
                 "kimura": factories.employee(fukushika, "SHUNIN", name="木村 陽子", number="C006"),
                 "kudo": factories.employee(fukushika, "SHUJI", name="工藤 翔", number="C007"),
                 "gone": factories.employee(fukushika, "SHUJI", name="退職 済", number="C008")}
        courses = {"sec": factories.course("SEC-1", title_ja="情報セキュリティ研修"),
                   "eth": factories.course("ETH-1", title_ja="公務員倫理研修"),
                   "doc": factories.course("DOC-1", title_ja="文書事務研修", grades=("SHUJI",)),
                   "half": factories.course("HALF-1", title_ja="上期必修研修", grades=("SHUJI",))}
        factories.assignment_rule(courses["sec"], "SHUNIN", fiscal_year=2025, due_on=date(2025, 11, 20))
        factories.assignment_rule(courses["eth"], "SHUNIN", fiscal_year=2025, due_on=date(2026, 2, 27))
        factories.assignment_rule(courses["doc"], "SHUJI", fiscal_year=2025, due_on=date(2025, 12, 20))
        factories.assignment_rule(courses["half"], "SHUJI", fiscal_year=2025, due_on=date(2025, 9, 10))
        factories.assignment_rule(courses["sec"], "SHUNIN", fiscal_year=2024, due_on=date(2024, 11, 20))
        staff["gone"].is_active = False  # left after the rules assigned them: no longer counted
        for key, course, day in (("aoki", "sec", date(2025, 6, 1)), ("ueda", "eth", date(2025, 11, 1)),
                                 ("ono", "doc", date(2025, 11, 15)), ("eto", "sec", date(2025, 6, 1))):
            record_manual_completion(hr, staff[key], courses[course], day, Decimal("1"), "")
        db_session.execute(update(Completion).where(Completion.employee_id == staff["eto"].id)
                           .values(revoked_at=now(), revoked_reason="誤登録"))
        db_session.commit()
        units = {"soumu": soumu, "jinji": jinji, "kyuyo": kyuyo, "zaisei": zaisei, "fukushi": fukushi,
                 "fukushika": fukushika}
        return {"hr": hr, "admin": admin, "manager": manager, "staff": staff,
                "units": {k: u.id for k, u in units.items()}, "courses": {k: c.id for k, c in courses.items()},
                "grades": {g: factories.grade(g).id for g in ("SHUNIN", "SHUJI")}}


def client_of(app, person):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, person)
    return client


@pytest.fixture
def hr(app, world):  # type: ignore[no-untyped-def]
    return client_of(app, world["hr"])


def totals(page: str) -> dict[str, int]:
    """The four counts at the top of the view."""
    row = page.split('<ul class="stat-row"')[1].split("</ul>")[0]
    numbers = [int(n) for n in re.findall(r'<span class="stat-row__n">(\d+)</span>', row)]
    return dict(zip(MEASURES, numbers[:4], strict=True))


def breakdown(page: str, caption: str) -> dict[str, tuple[int, ...]]:
    """Row label → (assigned, done, overdue, due soon) of the view's table, its total line included."""
    table = page.split('id="compliance-table"')[1].split("</table>")[0]
    assert f"<caption>{caption}</caption>" in table
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.S):
        cells = [text_of(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        rows[cells[0]] = tuple(int(c) for c in cells[1:5])
    return rows


def names_listed(page: str) -> list[str]:
    """The people list's names, in page order."""
    body = page.split('id="compliance-people"')[1].split("</table>")[0]
    return [text_of(n) for n in re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a></th>', body)]


def test_the_counts_by_department_unit_grade_and_course(hr, world):
    page = hr.get("/reports/compliance?fy=2025").get_data(as_text=True)
    assert totals(page) == {"assigned": 14, "done": 3, "overdue": 6, "due_soon": 2}
    assert breakdown(page, "部局別") == {"総務部": (10, 3, 4, 1), "健康福祉部": (4, 0, 2, 1), "合計": (14, 3, 6, 2)}
    assert "21.4%" in page  # 3 of 14 done, in the table beside the chart
    chart = charts_of(page)["部局別の修了率"]  # an image with its title, beside its table, loading nothing
    assert chart.bars == {"総務部": "30.0%", "健康福祉部": "0.0%"} and chart.table == "部局別"
    assert chart.ticks[0] == "0%" and chart.ticks[-1] == "100%"  # the whole 0–100 %, though no rate passes 30 %
    assert chart.alt == "棒グラフ：部局別の修了率（目盛りは0%から100%まで）。数値は表「部局別」にあります。"
    assert loads_nothing(chart.svg)

    page = hr.get("/reports/compliance?fy=2025&by=unit").get_data(as_text=True)
    assert breakdown(page, "所属別") == {
        "総務部 / 人事課": (4, 1, 1, 1), "総務部 / 給与室": (2, 1, 1, 0), "総務部 / 財政課": (4, 1, 2, 0),
        "健康福祉部 / 福祉課": (4, 0, 2, 1), "合計": (14, 3, 6, 2)}
    assert charts_of(page)["所属別の修了率"].bars == {"人事課": "25.0%", "給与室": "50.0%", "財政課": "25.0%",
                                                  "福祉課": "0.0%"}
    page = hr.get("/reports/compliance?fy=2025&by=grade").get_data(as_text=True)
    assert breakdown(page, "職級別") == {"主任級": (8, 2, 3, 0), "主事・技師": (6, 1, 3, 2), "合計": (14, 3, 6, 2)}
    page = hr.get("/reports/compliance?fy=2025&by=course").get_data(as_text=True)
    assert breakdown(page, "研修別") == {"情報セキュリティ研修": (4, 1, 3, 0), "公務員倫理研修": (4, 1, 0, 0),
                                     "文書事務研修": (3, 1, 0, 2), "上期必修研修": (3, 0, 3, 0), "合計": (14, 3, 6, 2)}


def test_units_of_one_name_in_two_departments_are_told_apart_on_the_chart(app, hr, world):
    with app.app_context():
        other = factories.unit("人事課", db_session.get(Unit, world["units"]["fukushi"]), code="F-JINJI")
        factories.employee(other, "SHUNIN", name="別所 人事", number="C009")
        for rule in db_session.scalars(select(AssignmentRule).where(AssignmentRule.fiscal_year == 2025)):
            evaluate_rule(rule)
        db_session.commit()
    page = hr.get("/reports/compliance?fy=2025&by=unit").get_data(as_text=True)
    assert breakdown(page, "所属別")["健康福祉部 / 人事課"] == (2, 0, 1, 0)  # SEC overdue, ETH not yet due
    assert charts_of(page)["所属別の修了率"].bars == {"人事課（総務部）": "25.0%", "給与室": "50.0%", "財政課": "25.0%",
                                                  "福祉課": "0.0%", "人事課（健康福祉部）": "0.0%"}


def test_filters_narrow_the_counts(hr, world):
    units, grades, courses = world["units"], world["grades"], world["courses"]

    def counts(query: str) -> tuple[int, ...]:
        response = hr.get(f"/reports/compliance?{query}")
        assert response.status_code == 200
        return tuple(totals(response.get_data(as_text=True)).values())

    assert counts(f"fy=2025&department={units['soumu']}") == (10, 3, 4, 1)
    assert counts(f"fy=2025&unit={units['jinji']}") == (6, 2, 2, 1)  # 給与室 below included
    assert counts(f"fy=2025&unit={units['jinji']}&only=1") == (4, 1, 1, 1)
    assert counts(f"fy=2025&grade={grades['SHUJI']}") == (6, 1, 3, 2)
    assert counts(f"fy=2025&course={courses['sec']}") == (4, 1, 3, 0)
    assert counts(f"fy=2025&department={units['fukushi']}&course={courses['doc']}") == (1, 0, 0, 1)
    assert counts("fy=2025&half=1") == (3, 0, 3, 0)  # due in 上期: HALF alone
    assert counts("fy=2025&half=2") == (11, 3, 3, 2)
    assert counts("fy=2024") == (4, 1, 3, 0)  # last year's SEC: 青木's completion answers it too
    assert counts(f"fy=2025&department={units['fukushi']}&unit={units['jinji']}") == (0, 0, 0, 0)
    # Bad values are ignored or match nothing; never a 500.
    assert counts("fy=abc&half=7&grade=x&course=-1&by=nonsense&unit=2147483648") == (14, 3, 6, 2)
    assert counts("fy=2025&department=2000000000") == (0, 0, 0, 0)
    assert counts("") == (14, 3, 6, 2)  # the current fiscal year by default


def test_a_completion_counts_only_if_current_and_of_the_cycle(hr, world):
    staff = world["staff"]
    with hr.application.app_context():
        # 青木's SEC completion (2025-06-01) predates a cycle that opened in October: not done.
        db_session.execute(update(Assignment).where(Assignment.employee_id == staff["aoki"].id,
                                                    Assignment.course_id == world["courses"]["sec"],
                                                    Assignment.fiscal_year == 2025)
                           .values(opens_on=date(2025, 10, 1)))
        # 上田's ETH completion expired yesterday: not done either.
        db_session.execute(update(Completion).where(Completion.employee_id == staff["ueda"].id)
                           .values(valid_until=date(2025, 11, 30)))
        db_session.commit()
    page = hr.get(f"/reports/compliance?fy=2025&by=course&grade={world['grades']['SHUNIN']}").get_data(as_text=True)
    assert breakdown(page, "研修別") == {"情報セキュリティ研修": (4, 0, 4, 0), "公務員倫理研修": (4, 0, 0, 0),
                                     "合計": (8, 0, 4, 0)}


def test_every_count_drills_down_to_its_people(hr, world):
    page = hr.get(f"/reports/compliance?fy=2025&department={world['units']['soumu']}&by=unit").get_data(as_text=True)
    links = {(m.group(2), m.group(3)): m.group(1).replace("&amp;", "&")
             for m in re.finditer(r'<a href="(/reports/compliance/people\?[^"]+)" aria-label="([^:"]+): ([^"]+) \d+">',
                                  page)}
    overdue_in_zaisei = links[("財政課", "期限超過")]
    people = hr.get(overdue_in_zaisei).get_data(as_text=True)
    assert names_listed(people) == ["大野 愛", "江藤 聡"]  # HALF (due 9/10) before SEC (due 11/20)
    assert "期限超過" in people and "2025年9月10日" in people

    # The totals link to their people, and every count matches its list.
    for state, expected in (("", 10), ("done", 3), ("overdue", 4), ("due_soon", 1)):
        response = hr.get(f"/reports/compliance/people?fy=2025&department={world['units']['soumu']}&state={state}")
        assert response.status_code == 200
        assert len(names_listed(response.get_data(as_text=True))) == expected, state
    page = hr.get("/reports/compliance/people?fy=2025&state=overdue").get_data(as_text=True)
    assert names_listed(page) == ["石井 花子", "大野 愛", "工藤 翔", "上田 健", "江藤 聡", "木村 陽子"]
    assert "6件" in page
    page = hr.get("/reports/compliance/people?fy=2025&state=due_soon").get_data(as_text=True)
    assert names_listed(page) == ["石井 花子", "工藤 翔"]
    assert "30日以内に期限" in page
    # The unit row counts that unit alone, and so does its list.
    page = hr.get(f"/reports/compliance/people?fy=2025&unit={world['units']['jinji']}&only=1").get_data(as_text=True)
    assert sorted(names_listed(page)) == ["石井 花子", "石井 花子", "青木 一郎", "青木 一郎"]
    assert "退職 済" not in hr.get("/reports/compliance/people?fy=2025").get_data(as_text=True)


def test_the_people_list_is_paginated(app, hr, world):
    with app.app_context():
        crowd = factories.unit("大所帯課", code="S-CROWD")
        for i in range(55):
            factories.employee(crowd, "SHUNIN", name=f"多人数 {i:02d}", number=f"M{i:03d}")
        course = factories.course("BIG-1", title_ja="大人数研修")
        factories.assignment_rule(course, "SHUNIN", fiscal_year=2025, due_on=date(2026, 3, 1))
        crowd_id, course_id = crowd.id, course.id
    first = hr.get(f"/reports/compliance/people?fy=2025&unit={crowd_id}&course={course_id}").get_data(as_text=True)
    assert len(names_listed(first)) == 50 and "55件" in first
    assert 'rel="next"' in first
    second = hr.get(f"/reports/compliance/people?fy=2025&unit={crowd_id}&course={course_id}&page=2")
    names = names_listed(second.get_data(as_text=True))
    assert len(names) == 5 and names[-1] == "多人数 54"


def test_the_exports_hold_the_view(hr, world):
    soumu = world["units"]["soumu"]
    response = hr.get(f"/reports/compliance/export.csv?fy=2025&department={soumu}&state=overdue")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="compliance-2025-2025-12-01\.csv"',
                        response.headers["Content-Disposition"])
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8")[1:])))
    assert table[0] == ["職員番号", "氏名", "部局", "所属", "職級", "研修コード", "研修", "受講期限", "状態"]
    assert table[1:] == [
        ["C002", "石井 花子", "総務部", "人事課", "主事・技師", "HALF-1", "上期必修研修", "2025-09-10", "期限超過"],
        ["C005", "大野 愛", "総務部", "財政課", "主事・技師", "HALF-1", "上期必修研修", "2025-09-10", "期限超過"],
        ["C003", "上田 健", "総務部", "給与室", "主任級", "SEC-1", "情報セキュリティ研修", "2025-11-20", "期限超過"],
        ["C004", "江藤 聡", "総務部", "財政課", "主任級", "SEC-1", "情報セキュリティ研修", "2025-11-20", "期限超過"]]

    response = hr.get("/reports/compliance/export.xlsx?fy=2025&half=2&by=grade")
    assert response.status_code == 200
    assert 'filename="compliance-2025-h2-2025-12-01.xlsx"' in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    summary, people = (list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets)
    assert workbook.sheetnames == ["集計", "対象者"]
    workbook.close()
    assert summary == [("職級", "指定件数", "修了", "期限超過", "30日以内に期限", "修了率（%）"),
                       ("主任級", 8, 2, 3, 0, 25), ("主事・技師", 3, 1, 0, 2, 33.3), ("合計", 11, 3, 3, 2, 27.3)]
    assert len(people) == 1 + 11
    assert {row[7].date() for row in people[1:]} == {date(2025, 11, 20), date(2025, 12, 20), date(2026, 2, 27)}


def test_a_name_cannot_become_a_formula_in_the_export(app, hr, world):
    with app.app_context():
        person = db_session.get(Employee, world["staff"]["kimura"].id)
        assert person is not None
        person.name = '=HYPERLINK("http://evil.example/","クリック")'
        db_session.commit()
    text = hr.get("/reports/compliance/export.csv?fy=2025&state=overdue").data.decode("utf-8")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    workbook = load_workbook(io.BytesIO(hr.get("/reports/compliance/export.xlsx?fy=2025").data), read_only=True)
    cells = [v for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for v in row]
    workbook.close()
    assert "'=HYPERLINK(\"http://evil.example/\",\"クリック\")" in cells
    assert not any(isinstance(v, str) and v.startswith("=") for v in cells)


@pytest.mark.parametrize("who", ["hr", "admin"])
def test_hr_and_administrators_open_it(app, world, who):
    client = client_of(app, world[who])
    for path in ("/reports/compliance", "/reports/compliance/people?state=overdue", "/reports/compliance/export.csv",
                 "/reports/compliance/export.xlsx"):
        assert client.get(path).status_code == 200, path
    assert 'href="/reports/compliance"' in client.get("/").get_data(as_text=True)  # in the main menu


@pytest.mark.parametrize("who", ["manager", "aoki"])
def test_managers_and_staff_are_refused(app, world, who):
    client = client_of(app, world["manager"] if who == "manager" else world["staff"][who])
    for path in ("/reports/compliance", "/reports/compliance/people?state=overdue", "/reports/compliance/export.csv",
                 "/reports/compliance/export.xlsx"):
        assert client.get(path).status_code == 403, path
    assert 'href="/reports/compliance"' not in client.get("/").get_data(as_text=True)
    anonymous = app.test_client().get("/reports/compliance")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")


def test_a_fixed_number_of_statements_whatever_the_number_of_staff(app, hr, world):
    def statements(path: str) -> int:
        with count_statements(app) as counter:
            response = hr.get(path)
            assert response.status_code == 200 and response.data  # a streamed export read to its end
        return counter.count

    paths = ("/reports/compliance?fy=2025", "/reports/compliance?fy=2025&by=unit",
             "/reports/compliance/people?fy=2025&state=overdue", "/reports/compliance/export.csv?fy=2025",
             "/reports/compliance/export.xlsx?fy=2025")
    before = {path: statements(path) for path in paths}
    with app.app_context():
        unit = factories.unit("増員課", code="S-MORE")
        for i in range(30):
            factories.employee(unit, "SHUNIN" if i % 2 else "SHUJI", number=f"N{i:03d}")
        for rule in db_session.scalars(select(AssignmentRule).join(Course, AssignmentRule.course_id == Course.id)
                                       .where(AssignmentRule.fiscal_year == 2025,
                                              Course.code.in_(("SEC-1", "DOC-1")))):
            assert evaluate_rule(rule).assigned == 15  # the new staff get assigned
        db_session.commit()
    after = {path: statements(path) for path in paths}
    assert after == before
    # The sign-in loader; the units, grades and courses named on the page; then the one GROUP BY
    # (the view), a count and a page (the people), one streamed SELECT (the CSV), both (Excel).
    assert before == {"/reports/compliance?fy=2025": 5, "/reports/compliance?fy=2025&by=unit": 5,
                      "/reports/compliance/people?fy=2025&state=overdue": 6,
                      "/reports/compliance/export.csv?fy=2025": 5, "/reports/compliance/export.xlsx?fy=2025": 6}


def test_the_counting_reads_through_indexes(app, world):
    """At 30,000 staff and their completions, the completion test must be answerable through the
    index on valid completions, and a department or course filter must start from an index too (for
    the whole prefecture PostgreSQL may rather hash the completions once: its choice). PostgreSQL
    chooses scans on tables this small, so sequential scans are priced out there: an index path
    must exist."""
    with app.app_context():
        reference = comp.load_reference()
        bind = db_session.get_bind()

        def plan(filters: comp.Filters) -> str:
            compiled = comp.count_statement(filters, reference, date(2025, 12, 1)).compile(
                bind, compile_kwargs={"literal_binds": True})
            if bind.dialect.name == "sqlite":
                return "\n".join(str(row[-1]) for row in db_session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            db_session.execute(text("SET LOCAL enable_seqscan = off"))
            return "\n".join(row[0] for row in db_session.execute(text(f"EXPLAIN {compiled}")))

        everything = plan(comp.Filters(2025))
        department = plan(comp.Filters(2025, department_id=world["units"]["soumu"]))
        course = plan(comp.Filters(2025, course_id=world["courses"]["sec"]))
        db_session.rollback()
    for found in (everything, department, course):
        if bind.dialect.name == "sqlite":
            assert re.search(r"SEARCH completions USING (COVERING )?INDEX", found), found
            assert "SCAN completions" not in found, found
        else:
            assert re.search(r"(Index (Only )?Scan using \w+|Bitmap Heap Scan) on completions", found), found
            assert "Seq Scan" not in found, found
    if bind.dialect.name == "sqlite":
        # Which index the planner picks is its choice (and varies with statistics): that one is used is the point.
        for found in (everything, department, course):
            assert re.search(r"SEARCH assignments USING (COVERING )?INDEX", found), found
            assert "SCAN assignments" not in found, found
    else:
        for found in (everything, department, course):
            assert re.search(r"(Index|Bitmap Index) (Only )?Scan using \w+ on assignments", found) or (
                "on assignments" in found and "Seq Scan" not in found), found
