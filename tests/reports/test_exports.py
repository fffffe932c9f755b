"""CSV and Excel downloads: UTF-8 with a BOM, and no cell a spreadsheet would run as a formula
(a value starting with =, +, -, @, a tab or a carriage return gets an apostrophe in front)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from app.core.clock import TOKYO
from app.core.fiscal import fiscal_half_of, fiscal_year_of
from app.org.models import RoleName
from app.web.spreadsheets import DANGEROUS_PREFIXES, csv_lines, neutralise
from tests import factories

HOSTILE = {"=": '=HYPERLINK("http://evil.example/","開く")', "+": "+81-90-0000-0000", "-": "-2+3",
           "@": "@SUM(A1:A9)", "\t": "\t=1+1", "\r": "\r=1+1"}


@pytest.mark.parametrize("value", list(HOSTILE.values()))
def test_neutralise_prefixes_an_apostrophe_to_what_a_spreadsheet_would_run(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["山田 太郎", "", "a=b", "1+1", "'=already text", " =leading space", "＝全角",
                                   "研修-1", 5, -5, 2.5, None, True])
def test_neutralise_leaves_everything_else_alone(value):
    assert neutralise(value) is value


def test_the_prefixes_are_exactly_the_dangerous_ones():
    assert set(DANGEROUS_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}


def test_csv_lines_start_with_the_bom_and_neutralise_header_and_cells():
    rows = [["=1+1", None, 3, "普通"], ["-x", "@y", "\tz", "a,\"b\"\nc"]]
    text = "".join(csv_lines(["=head", "名前", "数", "備考"], rows))
    assert text.startswith("\ufeff") and text.count("\ufeff") == 1
    parsed = list(csv.reader(io.StringIO(text[1:], newline="")))
    assert parsed == [["'=head", "名前", "数", "備考"], ["'=1+1", "", "3", "普通"],
                      ["'-x", "'@y", "'\tz", "a,\"b\"\nc"]]
    assert "\r\n" in text  # lines end as Excel expects


def test_csv_lines_stream_a_large_export_in_chunks():
    rows = ([str(n), "=" + "x" * 100] for n in range(2000))
    chunks = list(csv_lines(["n", "v"], rows))
    assert len(chunks) > 3 and chunks[0] == "\ufeff"
    parsed = list(csv.reader(io.StringIO("".join(chunks[1:]), newline="")))
    assert len(parsed) == 2001 and all(v.startswith("'=") for _n, v in parsed[1:])


@pytest.fixture
def hostile(app):  # type: ignore[no-untyped-def]
    """People, a division and a course whose names start like formulas, enrolled in a coming session."""
    with app.app_context():
        division = factories.unit("@不正な課", factories.unit("=部局(テスト)"))
        hr = factories.employee(roles=(RoleName.HR,), name="人事 担当")
        head = factories.employee(division, "KACHO", heads=division, name="課長 普通")
        people = [factories.employee(division, "SHUNIN", name=name, number=f"X{i:04d}")
                  for i, name in enumerate(HOSTILE.values(), start=1)]
        people.append(factories.employee(division, "SHUNIN", name="普通 花子", number="X0100"))
        course = factories.course("EVIL-1", title_ja="+危険な研修", grades=("SHUNIN",))
        session = factories.training_session(course, starts_in=timedelta(days=20))
        for person in people:
            factories.enrolment(person, session)
        factories.assignment_rule(course, "SHUNIN", fiscal_year=2025)
        starts_on = session.starts_at.astimezone(TOKYO).date()
        return {"hr": hr, "head": head, "people": people, "fy": fiscal_year_of(starts_on).year,
                "half": fiscal_half_of(starts_on).half}


def csv_table(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), data[:10]
    return list(csv.reader(io.StringIO(data.decode("utf-8")[1:], newline="")))


def xlsx_table(data: bytes) -> tuple[list[tuple], list[str]]:  # type: ignore[type-arg]
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook[workbook.sheetnames[0]]
    values = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    kinds = [c.data_type for row in sheet.iter_rows() for c in row]
    workbook.close()
    return values, kinds


def test_enrolment_csv_has_the_bom_and_neutralised_names_and_titles(app, client, hostile):
    factories.login_as(client, hostile["hr"])
    response = client.get(f"/reports/export/enrolments.csv?fy={hostile['fy']}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="enrolments-{hostile["fy"]}.csv"'
    table = csv_table(response.data)
    assert table[0] == ["職員番号", "氏名", "所属", "職級", "研修コード", "研修", "研修開始日時", "状態", "申込日時"]
    by_number = {row[0]: row for row in table[1:]}
    assert len(by_number) == len(HOSTILE) + 1
    for i, value in enumerate(HOSTILE.values(), start=1):
        row = by_number[f"X{i:04d}"]
        assert row[1] == "'" + value
        assert (row[2], row[3], row[4], row[5], row[7]) == (
            "'@不正な課", "主任級", "EVIL-1", "'+危険な研修", "受講確定")  # the state as the pages say it
    assert by_number["X0100"][1] == "普通 花子"
    for row in table:
        for cell in row:
            assert not cell.startswith(DANGEROUS_PREFIXES), row


def test_enrolment_excel_opens_and_is_neutralised_the_same_way(app, client, hostile):
    factories.login_as(client, hostile["hr"])
    response = client.get(f"/reports/export/enrolments.xlsx?fy={hostile['fy']}")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    values, kinds = xlsx_table(response.data)
    assert "f" not in kinds  # not a single formula
    assert values[0][:2] == ("職員番号", "氏名")
    by_number = {row[0]: row for row in values[1:]}
    for i, value in enumerate(HOSTILE.values(), start=1):
        row = by_number[f"X{i:04d}"]
        # (XML turns a stored carriage return into a line feed when read back; the apostrophe stays)
        assert (row[1], row[2], row[5]) == ("'" + value.replace("\r", "\n"), "'@不正な課", "'+危険な研修")
    assert by_number["X0100"][1] == "普通 花子"


def test_team_exports_are_neutralised_too(app, client, hostile):
    factories.login_as(client, hostile["head"])
    table = csv_table(client.get("/team/export.csv").data)
    names = sorted(row[1] for row in table[1:])
    assert names == sorted(["'" + v for v in HOSTILE.values()] + ["普通 花子"])
    assert {row[2] for row in table[1:]} == {"'@不正な課"} and {row[4] for row in table[1:]} == {"'+危険な研修"}
    values, kinds = xlsx_table(client.get("/team/export.xlsx").data)
    assert "f" not in kinds
    assert sorted(row[1] for row in values[1:]) == sorted(n.replace("\r", "\n") for n in names)


def test_the_half_year_workbook_neutralises_unit_and_course_names(app, client, hostile):
    factories.login_as(client, hostile["hr"])
    response = client.get(f"/reports/half-year.xlsx?fy={hostile['fy']}&half={hostile['half']}")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    assert "f" not in {c.data_type for ws in workbook.worksheets for row in ws.iter_rows() for c in row}
    departments, divisions, _grades, courses = workbook.worksheets[:4]
    assert [row[0].value for row in departments.iter_rows(min_row=2)] == ["'=部局(テスト)"]
    assert [row[0].value for row in divisions.iter_rows(min_row=2)] == ["'@不正な課"]
    assert [(row[0].value, row[1].value) for row in courses.iter_rows(min_row=2)] == [("'+危険な研修", 7)]
    workbook.close()
