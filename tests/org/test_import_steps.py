"""The staff import's four steps, each on its own: read, validate, plan, apply (app/org/services.py).

`import_staff` composes them; tests/org/test_import_service.py covers the whole. Issue wording is
translated, so these tests assert on line and field.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.db import db_session
from app.org import services
from app.org.events import ApproversChanged, EmployeesDeactivated, StaffImported
from app.org.models import Employee, Grade, Placement, Unit
from app.org.services import (
    ImportReport,
    KnownPerson,
    StaffImportPlan,
    ValidRow,
    apply_staff_import,
    load_people,
    plan_staff_changes,
    plan_staff_import,
    read_staff_upload,
    validate_staff_rows,
)
from app.org.staff_csv import StaffRow
from tests import factories
from tests.org.test_import_service import AS_OF, HEADER, JA_HEADER, PLACED_ON, Org, csv_bytes, everyone, snapshot

NEWCOMER = ["20001", "高橋 三郎", "タカハシ サブロウ", "takahashi@pref.example.lg.jp", "SHUJI", "D120", ""]


@pytest.fixture
def org(ctx: Flask) -> Org:
    return Org()


def grade_name(code: str) -> str:
    return factories.grade(code).name


def issues_of(report: ImportReport) -> list[tuple[int, str]]:
    return [(issue.line, issue.field) for issue in report.issues]


# --- read: decode, detect the encoding, parse the rows -----------------------------------------


def test_read_utf8_with_a_bom(org: Org) -> None:
    report = ImportReport()
    rows = read_staff_upload(csv_bytes(everyone(org), encoding="utf-8-sig"), report)
    assert report.ok, report.issues
    assert report.encoding == "utf-8-sig" and report.rows == 3
    assert report.columns["employee_number"] == "employee_number"  # the BOM is not part of the header
    assert [(row.line, row.values["employee_number"]) for row in rows] == [(2, "10001"), (3, "10002"), (4, "10003")]
    assert rows[1].values["name"] == "佐藤 一郎"


def test_read_shift_jis_with_japanese_headers(org: Org) -> None:
    report = ImportReport()
    rows = read_staff_upload(csv_bytes(everyone(org), JA_HEADER, encoding="cp932"), report)
    assert report.ok, report.issues
    assert report.encoding == "cp932"
    assert report.columns["unit"] == "所属コード" and report.column_label("grade") == "職級"
    assert [row.values["name"] for row in rows] == ["山田 花子", "佐藤 一郎", "鈴木 次郎"]
    assert set(rows[0].values) == set(HEADER)  # values are keyed by field, whatever the header says


def test_read_a_file_in_neither_encoding_is_a_file_problem(org: Org) -> None:
    report = ImportReport()
    rows = read_staff_upload(csv_bytes(everyone(org)) + b"\xff\xfe\x80", report)
    assert rows == []
    assert issues_of(report) == [(1, "file")]
    assert report.issues[0].message


def test_read_a_missing_header_column_names_line_1_and_the_field(org: Org) -> None:
    header = [key for key in HEADER if key != "email"]
    rows_without_email = [row[:3] + row[4:] for row in everyone(org)]
    report = ImportReport()
    assert read_staff_upload(csv_bytes(rows_without_email, header), report) == []
    assert issues_of(report) == [(1, "email")]


def test_read_a_header_without_rows_is_refused(org: Org) -> None:
    report = ImportReport()
    assert read_staff_upload(csv_bytes([]), report) == []
    assert issues_of(report) == [(2, "file")]


# --- validate: each row's fields ---------------------------------------------------------------


def staff_row(line: int, number: str, email: str, grade: str = "SHUJI", unit: str = "D110", *,
              name: str = "新人 太郎", is_head: str = "") -> StaffRow:
    return StaffRow(line, {"employee_number": number, "name": name, "name_kana": "", "email": email,
                           "grade": grade, "unit": unit, "is_head": is_head})


def validate(rows: list[StaffRow]) -> tuple[ImportReport, list[ValidRow]]:
    report = ImportReport()
    return report, validate_staff_rows(rows, report, load_people())


def test_validate_a_good_row_finds_its_grade_and_unit(org: Org) -> None:
    report, valid = validate([staff_row(2, "20001", "Shinjin@Pref.Example.LG.JP", "主任級", "D120", is_head="○")])
    assert report.ok, report.issues
    [item] = valid
    assert (item.number, item.grade.code, item.unit.id, item.is_head) == ("20001", "SHUNIN", org.zaisei.id, True)
    assert item.email == "Shinjin@pref.example.lg.jp"  # the domain normalised
    assert item.row.line == 2


def test_validate_a_bad_email_names_line_and_field(org: Org) -> None:
    report, valid = validate([staff_row(2, "20001", "new@pref.example.lg.jp"),
                              staff_row(3, "20002", "new2@@pref.example.lg.jp")])
    assert issues_of(report) == [(3, "email")]
    assert "new2@@pref.example.lg.jp" in report.issues[0].message
    assert [item.number for item in valid] == ["20001"]


def test_validate_an_unknown_grade_and_an_unknown_unit_name_line_and_field(org: Org) -> None:
    report, valid = validate([staff_row(2, "20001", "a@pref.example.lg.jp", grade="SHOGUN"),
                              staff_row(5, "20002", "b@pref.example.lg.jp", unit="D999")])
    assert issues_of(report) == [(2, "grade"), (5, "unit")]
    assert "SHOGUN" in report.issues[0].message and "D999" in report.issues[1].message
    assert valid == []


def test_validate_a_duplicate_employee_number_names_the_second_line(org: Org) -> None:
    report, valid = validate([staff_row(2, "20001", "a@pref.example.lg.jp"),
                              staff_row(4, "20001", "b@pref.example.lg.jp")])
    assert issues_of(report) == [(4, "employee_number")]
    assert "2" in report.issues[0].message  # where the first one is
    assert [item.row.line for item in valid] == [2]


def test_validate_reports_every_problem_of_a_row_in_field_order(org: Org) -> None:
    report, valid = validate([staff_row(7, "", "not-an-address", grade="", unit="NOPE", name="", is_head="maybe")])
    assert issues_of(report) == [(7, "employee_number"), (7, "name"), (7, "email"), (7, "grade"), (7, "unit"),
                                 (7, "is_head")]
    assert valid == []


def test_validate_an_address_of_someone_not_in_the_file_is_refused(org: Org) -> None:
    report, _valid = validate([staff_row(2, "20001", org.staff.email)])
    assert issues_of(report) == [(2, "email")]
    assert "10002" in report.issues[0].message


def test_validate_reports_progress(org: Org) -> None:
    rows = [staff_row(line, f"3{line:04d}", f"p{line}@pref.example.lg.jp") for line in range(2, 452)]
    calls: list[tuple[int, int]] = []
    report = ImportReport()
    valid = validate_staff_rows(rows, report, load_people(), lambda done, total: calls.append((done, total)))
    assert report.ok and len(valid) == 450
    assert calls == [(200, 450), (400, 450), (450, 450)]


# --- plan: newcomers, moves, leavers, unchanged ------------------------------------------------


def valid_row(line: int, number: str, name: str, email: str, grade: str, unit: Unit, *,
              is_head: bool = False) -> ValidRow:
    found = db_session.scalar(select(Grade).where(Grade.code == grade))
    assert found is not None
    return ValidRow(StaffRow(line, {}), number, name, "", email, found, unit, is_head)


def as_listed(person: Employee, line: int, *, unit: Unit | None = None, grade: str | None = None,
              is_head: bool = False) -> ValidRow:
    assert person.unit is not None and person.grade is not None
    return valid_row(line, person.employee_number, person.name, person.email, grade or person.grade.code,
                     unit or person.unit, is_head=is_head)


def plan(valid: list[ValidRow]) -> StaffImportPlan:
    return plan_staff_changes(valid, load_people(), ImportReport(rows=len(valid)), as_of=AS_OF)


def test_plan_everyone_as_today_is_unchanged(org: Org) -> None:
    before = snapshot()
    result = plan([as_listed(person, line) for line, person in enumerate(org.people, start=2)])
    assert result.report.unchanged == 3
    assert (result.added, result.changed, result.leaving, result.head_changes) == ([], [], [], {})
    assert snapshot() == before  # planning writes nothing


def test_plan_a_newcomer(org: Org) -> None:
    newcomer = valid_row(5, "20001", "高橋 三郎", "takahashi@pref.example.lg.jp", "SHUJI", org.zaisei)
    result = plan([as_listed(person, line) for line, person in enumerate(org.people, start=2)] + [newcomer])
    assert result.added == [newcomer]
    assert [(c.employee_number, c.details) for c in result.report.added] == [("20001", ["財政課", grade_name("SHUJI")])]
    assert result.changed == [] and result.leaving == [] and result.report.unchanged == 3
    assert db_session.scalar(select(Employee).where(Employee.employee_number == "20001")) is None


def test_plan_a_move_and_a_promotion(org: Org) -> None:
    moved = as_listed(org.staff, 3, unit=org.zaisei, grade="SHUNIN")
    result = plan([as_listed(org.head, 2), moved, as_listed(org.other, 4)])
    [(person, item)] = result.changed
    assert isinstance(person, KnownPerson) and person.id == org.staff.id and item is moved
    [change] = result.report.transferred
    assert change.employee_number == "10002"
    assert change.details == ["人事課 → 財政課", f"{grade_name('SHUJI')} → {grade_name('SHUNIN')}"]
    assert result.report.unchanged == 2 and result.leaving == []


def test_plan_a_leaver_who_heads_a_unit(org: Org) -> None:
    result = plan([as_listed(org.staff, 3), as_listed(org.other, 4)])
    assert [p.employee_number for p in result.leaving] == ["10001"]
    assert [c.employee_number for c in result.report.deactivated] == ["10001"]
    assert result.head_changes == {org.jinji.id: None}  # a head who leaves stops heading
    assert result.report.unchanged == 2


def test_plan_a_new_head(org: Org) -> None:
    result = plan([as_listed(org.head, 2), as_listed(org.staff, 3), as_listed(org.other, 4, is_head=True)])
    assert result.head_changes == {org.zaisei.id: "10003"}
    assert [c.details for c in result.report.heads] == [["財政課: - → 鈴木 次郎"]]


def test_plan_outside_mentors_never_leave(org: Org) -> None:
    mentor = factories.employee(org.jinji, number="EXT001")
    mentor.is_external = True
    db_session.commit()
    result = plan([as_listed(person, line) for line, person in enumerate(org.people, start=2)])
    assert result.leaving == []


# --- apply: one write --------------------------------------------------------------------------


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The events apply emits (still delivered to their subscribers)."""
    seen: list[object] = []
    deliver = services.emit

    def record(event: object) -> None:
        seen.append(event)
        deliver(event)

    monkeypatch.setattr(services, "emit", record)
    return seen


def test_apply_writes_the_plan_counts_it_and_audits_it(org: Org, emitted: list[object]) -> None:
    hr = factories.employee(org.zaisei, number="90001")
    rows = [*everyone(org, **{"10002": {"unit": org.zaisei}})[:2], NEWCOMER]  # type: ignore[arg-type]
    planned = plan_staff_import(csv_bytes(rows), as_of=AS_OF)
    assert planned.report.ok, planned.report.issues
    report = apply_staff_import(planned, hr)
    assert report.applied
    assert report.counts() == {"rows": 3, "added": 1, "transferred": 1, "updated": 0, "reactivated": 0,
                               "deactivated": 2, "heads": 0, "unchanged": 1}
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "org.staff_imported"))
    assert event is not None and event.actor_id == hr.id and event.after == report.counts()
    assert AS_OF.isoformat() in event.summary
    leavers = tuple(sorted((org.other.id, hr.id)))
    moved = [e for e in emitted if isinstance(e, ApproversChanged)]  # the mover's pending work follows them
    assert [(e.employee_ids, e.unit_paths, e.reason) for e in moved] == [((org.staff.id,), (), "staff_import")]
    assert [e for e in emitted if e not in moved] == [EmployeesDeactivated(leavers), StaffImported(AS_OF)]

    newcomer = db_session.scalar(select(Employee).where(Employee.employee_number == "20001"))
    assert newcomer is not None and newcomer.is_active and newcomer.unit_id == org.zaisei.id
    assert db_session.get(Employee, org.staff.id).unit_id == org.zaisei.id  # type: ignore[union-attr]
    assert not db_session.get(Employee, org.other.id).is_active  # type: ignore[union-attr]
    history = db_session.execute(select(Placement.unit_id, Placement.started_on, Placement.ended_on)
                                 .where(Placement.employee_id == org.staff.id).order_by(Placement.id)).all()
    assert [tuple(row) for row in history] == [(org.jinji.id, PLACED_ON, AS_OF - timedelta(days=1)),
                                               (org.zaisei.id, AS_OF, None)]


def test_apply_without_leavers_emits_only_staff_imported(org: Org, emitted: list[object]) -> None:
    planned = plan_staff_import(csv_bytes(everyone(org)), as_of=AS_OF)
    report = apply_staff_import(planned, None)
    assert report.applied and report.counts()["unchanged"] == 3
    assert emitted == [StaffImported(AS_OF)]


def test_apply_refuses_a_plan_with_issues(org: Org, emitted: list[object]) -> None:
    planned = plan_staff_import(csv_bytes(everyone(org, **{"10002": {"grade": "SHOGUN"}})), as_of=AS_OF)  # type: ignore[arg-type]
    assert issues_of(planned.report) == [(3, "grade")]
    before = snapshot()
    with pytest.raises(ValueError):
        apply_staff_import(planned, None)
    assert snapshot() == before and emitted == []
