"""The staff-list import service: upserts, transfers, deactivation, validation, encodings.

Service-level tests (the `ctx` fixture, no HTTP). Issue wording is translated, so these tests
assert on `issue.line` and `issue.field`, and on what is (not) in the database afterwards.
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, Placement, RoleName, Unit
from app.org.services import import_staff
from tests import factories

HEADER = ["employee_number", "name", "name_kana", "email", "grade", "unit", "is_head"]
JA_HEADER = ["職員番号", "氏名", "氏名カナ", "メールアドレス", "職級", "所属コード", "所属長"]
# The factories open every placement on 1 April of the current year; transfers come later.
PLACED_ON = now().date().replace(month=4, day=1)
AS_OF = PLACED_ON + timedelta(days=183)


def csv_bytes(rows: list[list[str]], header: list[str] | None = None, *, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER if header is None else header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def row_for(person: Employee, *, unit: Unit | str | None = None, grade: str | None = None, head: str = "",
            name: str | None = None, email: str | None = None) -> list[str]:
    """The person's line as the HR system would write it (optionally changed)."""
    assert person.unit is not None and person.grade is not None
    unit_code = unit if isinstance(unit, str) else (unit or person.unit).code
    return [person.employee_number, name or person.name, person.name_kana, email or person.email,
            grade or person.grade.code, unit_code, head]


def snapshot() -> dict[str, object]:
    """Everything an import may change, read from the database (columns, not cached objects)."""
    return {
        "employees": sorted(db_session.execute(select(
            Employee.employee_number, Employee.name, Employee.name_kana, Employee.email, Employee.unit_id,
            Employee.grade_id, Employee.is_active, Employee.deactivated_at)).all()),
        "placements": sorted(db_session.execute(select(
            Placement.employee_id, Placement.unit_id, Placement.grade_id, Placement.started_on,
            Placement.ended_on)).all(), key=repr),
        "heads": sorted(db_session.execute(select(Unit.id, Unit.head_id)).all(), key=repr),
        "events": db_session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.action == "org.staff_imported")),
    }


def placements_of(person: Employee) -> list[Placement]:
    return list(db_session.scalars(
        select(Placement).where(Placement.employee_id == person.id).order_by(Placement.started_on, Placement.id)
    ))


def by_number(number: str) -> Employee:
    found = db_session.scalar(select(Employee).where(Employee.employee_number == number))
    assert found is not None, number
    return found


class Org:
    """A department (D100) with two divisions: 人事課 D110 (10001 its head, 10002) and 財政課 D120 (10003)."""

    def __init__(self) -> None:
        self.dept = factories.unit("総務部", code="D100")
        self.jinji = factories.unit("人事課", self.dept, code="D110")
        self.zaisei = factories.unit("財政課", self.dept, code="D120")
        self.head = factories.employee(self.jinji, "KACHO", heads=self.jinji, number="10001", name="山田 花子",
                                       email="yamada@pref.example.lg.jp")
        self.staff = factories.employee(self.jinji, "SHUJI", number="10002", name="佐藤 一郎",
                                        email="sato@pref.example.lg.jp")
        self.other = factories.employee(self.zaisei, "SHUNIN", number="10003", name="鈴木 次郎",
                                        email="suzuki@pref.example.lg.jp")
        self.people = [self.head, self.staff, self.other]


@pytest.fixture
def org(ctx) -> Org:  # type: ignore[no-untyped-def]
    return Org()


def everyone(org: Org, **changes: dict[str, object]) -> list[list[str]]:
    """Rows for all three people; `changes` maps an employee number to row_for() keyword args."""
    return [row_for(p, **changes.get(p.employee_number, {})) for p in org.people]  # type: ignore[arg-type]


def run(raw: bytes, *, dry_run: bool = False, as_of: date = AS_OF, actor: Employee | None = None):  # type: ignore[no-untyped-def]
    return import_staff(raw, actor, as_of=as_of, dry_run=dry_run)


# --- upserts ----------------------------------------------------------------------------------


def test_new_people_are_added_with_an_open_placement(org):
    rows = [*everyone(org), ["20001", "高橋 三郎", "タカハシ サブロウ", "takahashi@pref.example.lg.jp",
                             "SHUJI", "D120", ""]]
    report = run(csv_bytes(rows))
    assert report.ok and report.applied
    assert [c.employee_number for c in report.added] == ["20001"]
    assert report.unchanged == 3
    person = by_number("20001")
    assert person.is_active and person.unit_id == org.zaisei.id
    assert person.name == "高橋 三郎" and person.name_kana == "タカハシ サブロウ"
    assert person.grade is not None and person.grade.code == "SHUJI"
    [placement] = placements_of(person)
    assert (placement.unit_id, placement.started_on, placement.ended_on) == (org.zaisei.id, AS_OF, None)


def test_grade_may_be_given_by_its_japanese_name(org):
    rows = everyone(org, **{"10002": {"grade": "主任級"}})
    report = run(csv_bytes(rows))
    assert report.ok, report.issues
    assert by_number("10002").grade.code == "SHUNIN"  # type: ignore[union-attr]


def test_reimporting_the_same_list_changes_nothing(org):
    before = snapshot()
    report = run(csv_bytes(everyone(org)))
    assert report.ok and report.unchanged == 3
    assert not (report.added or report.transferred or report.updated or report.deactivated
                or report.reactivated or report.heads)
    after = snapshot()
    assert after["events"] == before["events"] + 1  # type: ignore[operator]
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}


def test_transfer_closes_the_old_placement_and_opens_a_new_one(org):
    report = run(csv_bytes(everyone(org, **{"10002": {"unit": org.zaisei}})))
    assert report.ok
    assert [c.employee_number for c in report.transferred] == ["10002"]
    assert "人事課 → 財政課" in report.transferred[0].details
    person = by_number("10002")
    assert person.unit_id == org.zaisei.id
    old, new = placements_of(person)
    assert (old.unit_id, old.started_on, old.ended_on) == (org.jinji.id, PLACED_ON, AS_OF - timedelta(days=1))
    assert (new.unit_id, new.grade_id, new.started_on, new.ended_on) == (
        org.zaisei.id, person.grade_id, AS_OF, None)


def test_a_second_transfer_keeps_the_whole_history(org):
    run(csv_bytes(everyone(org, **{"10002": {"unit": org.zaisei}})))
    later = AS_OF + timedelta(days=90)
    run(csv_bytes(everyone(org, **{"10002": {"unit": org.dept}})), as_of=later)
    history = [(p.unit_id, p.started_on, p.ended_on) for p in placements_of(by_number("10002"))]
    assert history == [
        (org.jinji.id, PLACED_ON, AS_OF - timedelta(days=1)),
        (org.zaisei.id, AS_OF, later - timedelta(days=1)),
        (org.dept.id, later, None),
    ]


def test_a_correction_on_the_same_day_edits_the_new_placement_in_place(org):
    run(csv_bytes(everyone(org, **{"10002": {"unit": org.zaisei}})))
    run(csv_bytes(everyone(org, **{"10002": {"unit": org.dept}})))  # same as_of: HR fixed a mistake
    history = [(p.unit_id, p.started_on, p.ended_on) for p in placements_of(by_number("10002"))]
    assert history == [(org.jinji.id, PLACED_ON, AS_OF - timedelta(days=1)), (org.dept.id, AS_OF, None)]


def test_promotion_changes_the_grade_and_records_it_in_the_history(org):
    report = run(csv_bytes(everyone(org, **{"10002": {"grade": "SHUNIN"}})))
    assert [c.employee_number for c in report.transferred] == ["10002"]
    assert report.transferred[0].details == ["主事・技師 → 主任級"]
    person = by_number("10002")
    assert person.grade is not None and person.grade.code == "SHUNIN" and person.unit_id == org.jinji.id
    old, new = placements_of(person)
    assert old.grade.code == "SHUJI" and old.ended_on == AS_OF - timedelta(days=1)
    assert (new.grade.code == "SHUNIN" and new.unit_id == org.jinji.id
            and (new.started_on, new.ended_on) == (AS_OF, None))


def test_name_and_email_changes_are_updates_without_a_new_placement(org):
    report = run(csv_bytes(everyone(org, **{"10003": {"name": "鈴木 二郎", "email": "jiro@pref.example.lg.jp"}})))
    assert [c.employee_number for c in report.updated] == ["10003"]
    assert report.updated[0].details == ["鈴木 次郎 → 鈴木 二郎", "suzuki@pref.example.lg.jp → jiro@pref.example.lg.jp"]
    assert not report.transferred
    person = by_number("10003")
    assert (person.name, person.email) == ("鈴木 二郎", "jiro@pref.example.lg.jp")
    assert len(placements_of(person)) == 1


def test_two_people_may_swap_email_addresses(org):
    rows = everyone(org, **{"10002": {"email": org.other.email}, "10003": {"email": org.staff.email}})
    report = run(csv_bytes(rows))
    assert report.ok, report.issues
    assert by_number("10002").email == "suzuki@pref.example.lg.jp"
    assert by_number("10003").email == "sato@pref.example.lg.jp"


def test_dry_run_and_real_run_report_the_same_changes(org):
    rows = everyone(org, **{"10002": {"unit": org.zaisei, "email": "ichiro@pref.example.lg.jp"}})[:2]
    rows.append(["20001", "高橋 三郎", "", "takahashi@pref.example.lg.jp", "SHUJI", "D120", ""])
    dry = run(csv_bytes(rows), dry_run=True)
    real = run(csv_bytes(rows))
    assert dry.counts() == real.counts() == {"rows": 3, "added": 1, "transferred": 1, "updated": 1,
                                             "reactivated": 0, "deactivated": 1, "heads": 0, "unchanged": 1}
    for kind in ("added", "transferred", "updated", "deactivated", "heads"):
        assert getattr(dry, kind) == getattr(real, kind), kind


# --- deactivation and reactivation ---------------------------------------------------------------


def test_people_missing_from_the_file_are_deactivated_not_deleted(org):
    report = run(csv_bytes(everyone(org)[:2]))
    assert [c.employee_number for c in report.deactivated] == ["10003"]
    person = by_number("10003")  # still there
    assert not person.is_active and person.deactivated_at is not None
    [placement] = placements_of(person)
    assert placement.ended_on == AS_OF - timedelta(days=1)
    assert by_number("10001").is_active and by_number("10002").is_active


def test_deactivating_a_head_clears_the_head_of_their_unit(org):
    report = run(csv_bytes(everyone(org)[1:]))
    assert [c.employee_number for c in report.deactivated] == ["10001"]
    assert [c.employee_number for c in report.heads] == ["10001"]
    db_session.refresh(org.jinji)
    assert org.jinji.head_id is None
    assert not by_number("10001").is_active


def test_external_mentors_are_never_deactivated(org):
    mentor = factories.employee(org.zaisei, number="EXT001")
    mentor.is_external = True
    db_session.commit()
    report = run(csv_bytes(everyone(org)))
    assert report.deactivated == []
    db_session.refresh(mentor)
    assert mentor.is_active and mentor.deactivated_at is None


def test_someone_back_in_the_file_is_reactivated_with_a_new_placement(org):
    run(csv_bytes(everyone(org)[:2]))  # 10003 leaves
    back_on = AS_OF + timedelta(days=30)
    report = run(csv_bytes(everyone(org, **{"10003": {"unit": org.jinji}})), as_of=back_on)
    assert [c.employee_number for c in report.reactivated] == ["10003"]
    assert not report.transferred and not report.added
    person = by_number("10003")
    assert person.is_active and person.deactivated_at is None and person.unit_id == org.jinji.id
    history = [(p.unit_id, p.started_on, p.ended_on) for p in placements_of(person)]
    assert history == [(org.zaisei.id, PLACED_ON, AS_OF - timedelta(days=1)), (org.jinji.id, back_on, None)]


def test_deactivated_people_stay_deactivated_and_untouched_on_the_next_import(org):
    run(csv_bytes(everyone(org)[:2]))
    first = by_number("10003").deactivated_at
    report = run(csv_bytes(everyone(org)[:2]), as_of=AS_OF + timedelta(days=1))
    assert report.deactivated == []
    assert by_number("10003").deactivated_at == first


# --- unit heads --------------------------------------------------------------------------------


def test_the_file_can_name_a_new_head(org):
    report = run(csv_bytes(everyone(org, **{"10003": {"head": "○"}})))
    assert [c.employee_number for c in report.heads] == ["10003"]
    db_session.refresh(org.zaisei)
    assert org.zaisei.head_id == org.other.id


def test_a_head_transferred_away_no_longer_heads_their_old_unit(org):
    report = run(csv_bytes(everyone(org, **{"10001": {"unit": org.zaisei}})))
    assert [c.employee_number for c in report.transferred] == ["10001"]
    db_session.refresh(org.jinji)
    assert org.jinji.head_id is None
    assert [(c.employee_number, c.details) for c in report.heads] == [("10001", ["人事課: 山田 花子 → -"])]


def test_a_head_staying_put_stays_head_when_the_file_has_no_head_column(org):
    rows = [r[:6] for r in everyone(org, **{"10001": {"grade": "JICHO"}})]
    report = run(csv_bytes(rows, HEADER[:6]))
    assert report.ok and report.heads == []
    db_session.refresh(org.jinji)
    assert org.jinji.head_id == org.head.id


# --- the audit trail ---------------------------------------------------------------------------


def test_an_applied_import_is_audited_with_its_actor_and_counts(org):
    hr = factories.employee(org.jinji, roles=(RoleName.HR,), number="90001")
    rows = [*everyone(org), row_for(hr)]
    run(csv_bytes(rows), actor=hr)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "org.staff_imported"))
    assert event is not None and event.actor_id == hr.id
    assert event.after is not None and event.after["rows"] == 4 and event.after["unchanged"] == 4
    assert AS_OF.isoformat() in event.summary


def test_dry_run_changes_nothing_and_records_no_event(org):
    rows = everyone(org, **{"10002": {"unit": org.zaisei, "grade": "SHUNIN", "email": "new@pref.example.lg.jp"},
                            "10003": {"head": "1"}})[1:]
    rows.append(["20001", "高橋 三郎", "", "takahashi@pref.example.lg.jp", "SHUJI", "D120", ""])
    before = snapshot()
    report = run(csv_bytes(rows), dry_run=True)
    assert report.ok and not report.applied
    assert (len(report.added), len(report.transferred), len(report.updated), len(report.deactivated),
            len(report.heads)) == (1, 1, 1, 1, 2)
    assert snapshot() == before
    assert db_session.scalar(select(Employee).where(Employee.employee_number == "20001")) is None


# --- invalid rows: reported with line and field, nothing applied --------------------------------

INVALID = {
    "unknown division": ({"10002": {"unit": "NOPE"}}, 3, "unit"),
    "unknown grade": ({"10003": {"grade": "SHOGUN"}}, 4, "grade"),
    "bad e-mail": ({"10002": {"email": "sato@@pref.example.lg.jp"}}, 3, "email"),
    "e-mail without a domain": ({"10003": {"email": "suzuki"}}, 4, "email"),
    "duplicate e-mail in the file": ({"10003": {"email": "SATO@pref.example.lg.jp"}}, 4, "email"),
    "two heads for one unit": ({"10002": {"head": "1"}, "10001": {"head": "1"}}, 3, "is_head"),
    "not a yes/no head mark": ({"10003": {"head": "maybe"}}, 4, "is_head"),
    "empty name": ({"10002": {"name": " "}}, 3, "name"),
}


@pytest.mark.parametrize("changes, line, field", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_row_is_reported_and_nothing_is_applied(org, changes, line, field):
    rows = everyone(org, **changes)  # line 2 is 10001, line 3 is 10002, line 4 is 10003
    rows.append(["20001", "新人 太郎", "", "new@pref.example.lg.jp", "SHUJI", "D110", ""])  # valid, not added
    before = snapshot()
    report = run(csv_bytes(rows))
    assert not report.ok and not report.applied
    assert [(i.line, i.field) for i in report.issues] == [(line, field)], report.issues
    assert snapshot() == before


def test_duplicate_employee_number_names_the_second_line(org):
    rows = [*everyone(org), ["10002", "佐藤 一郎（重複）", "", "sato2@pref.example.lg.jp", "SHUJI", "D110", ""]]
    before = snapshot()
    report = run(csv_bytes(rows))
    assert [(i.line, i.field) for i in report.issues] == [(5, "employee_number")]
    assert "3" in report.issues[0].message  # where the first one is
    assert snapshot() == before


def test_email_owned_by_someone_not_in_the_file_is_refused(org):
    external = factories.employee(org.zaisei, number="EXT001", email="mentor@example.org")
    external.is_external = True
    db_session.commit()
    rows = everyone(org, **{"10003": {"email": "mentor@example.org"}})
    before = snapshot()
    report = run(csv_bytes(rows))
    assert [(i.line, i.field) for i in report.issues] == [(4, "email")]
    assert "EXT001" in report.issues[0].message
    assert snapshot() == before


def test_email_of_a_deactivated_person_is_refused(org):
    run(csv_bytes(everyone(org)[:2]))  # 10003 leaves, keeping suzuki@
    before = snapshot()
    rows = [*everyone(org)[:2], ["20001", "新人", "", "Suzuki@pref.example.lg.jp", "SHUJI", "D110", ""]]
    report = run(csv_bytes(rows))
    assert [(i.line, i.field) for i in report.issues] == [(4, "email")]
    assert snapshot() == before


def test_a_closed_division_is_refused(org):
    org.zaisei.is_active = False
    db_session.commit()
    before = snapshot()
    report = run(csv_bytes(everyone(org)))
    assert [(i.line, i.field) for i in report.issues] == [(4, "unit")]
    assert snapshot() == before


def test_overlong_values_are_reported_instead_of_failing_in_the_database(org):
    rows = everyone(org)
    rows[1][2] = "ア" * 101
    rows[2][1] = "名" * 101
    rows.append(["9" * 33, "長い 番号", "", "long@pref.example.lg.jp", "SHUJI", "D110", ""])
    before = snapshot()
    report = run(csv_bytes(rows))
    assert [(i.line, i.field) for i in report.issues] == [(3, "name_kana"), (4, "name"), (5, "employee_number")]
    assert snapshot() == before


def test_every_problem_is_reported_at_once(org):
    rows = everyone(org)
    rows[0][5] = "NOPE"
    rows[0][4] = ""
    rows[2][3] = "not-an-address"
    before = snapshot()
    report = run(csv_bytes(rows))
    assert [(i.line, i.field) for i in report.issues] == [(2, "grade"), (2, "unit"), (4, "email")]
    assert snapshot() == before


def test_issue_text_names_line_and_field(org):
    rows = everyone(org, **{"10002": {"grade": "SHOGUN"}})
    [issue] = run(csv_bytes(rows)).issues
    assert "3" in str(issue) and "grade" in str(issue) and "SHOGUN" in str(issue)


@pytest.mark.parametrize("missing", ["employee_number", "name", "email", "grade", "unit"])
def test_a_missing_required_column_is_reported_on_line_1(org, missing):
    position = HEADER.index(missing)
    header = HEADER[:position] + HEADER[position + 1:]
    rows = [r[:position] + r[position + 1:] for r in everyone(org)]
    before = snapshot()
    report = run(csv_bytes(rows, header))
    assert [(i.line, i.field) for i in report.issues] == [(1, missing)]
    assert snapshot() == before


@pytest.mark.parametrize("raw", [b"", b"\xef\xbb\xbf", b"\r\n\r\n"], ids=["empty", "bom only", "blank lines"])
def test_an_empty_file_is_refused(org, raw):
    before = snapshot()
    report = run(raw)
    assert [(i.line, i.field) for i in report.issues] == [(1, "file")]
    assert snapshot() == before


def test_a_header_without_rows_is_refused_rather_than_deactivating_everyone(org):
    before = snapshot()
    report = run(csv_bytes([]))
    assert [(i.line, i.field) for i in report.issues] == [(2, "file")]
    assert snapshot() == before
    assert all(p.is_active for p in org.people)


def test_a_file_in_neither_encoding_is_refused(org):
    before = snapshot()
    report = run(csv_bytes(everyone(org)) + b"\xff\xfe\x80")
    assert [(i.line, i.field) for i in report.issues] == [(1, "file")]
    assert snapshot() == before


def test_a_twice_given_column_is_refused(org):
    header = [*HEADER, "email"]
    rows = [[*r, "other@pref.example.lg.jp"] for r in everyone(org)]
    report = run(csv_bytes(rows, header))
    assert [(i.line, i.field) for i in report.issues] == [(1, "email")]


# --- encodings, headers and line numbers --------------------------------------------------------


def test_cp932_file_with_japanese_headers(org):
    rows = everyone(org, **{"10002": {"unit": org.zaisei, "name": "佐藤 壱郎"}})
    rows.append(["20001", "髙橋 ①子", "タカハシ イチコ", "takahashi@pref.example.lg.jp", "主事・技師", "D110", "〇"])
    rows[0][6] = ""
    raw = csv_bytes(rows, JA_HEADER, encoding="cp932")
    raw.decode("cp932")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    report = run(raw)
    assert report.ok, report.issues
    assert report.encoding == "cp932"
    assert report.columns["unit"] == "所属コード"
    newcomer = by_number("20001")
    assert (newcomer.name, newcomer.name_kana) == ("髙橋 ①子", "タカハシ イチコ")  # CP932-only characters
    assert by_number("10002").name == "佐藤 壱郎" and by_number("10002").unit_id == org.zaisei.id
    db_session.refresh(org.jinji)
    assert org.jinji.head_id == newcomer.id


def test_cp932_file_reports_problems_by_line_and_field(org):
    rows = everyone(org, **{"10003": {"unit": "存在しない課"}})
    report = run(csv_bytes(rows, JA_HEADER, encoding="cp932"))
    assert [(i.line, i.field) for i in report.issues] == [(4, "unit")]
    assert "存在しない課" in report.issues[0].message
    assert report.column_label("unit") == "所属コード"


def test_utf8_with_bom_and_english_headers(org):
    raw = b"\xef\xbb\xbf" + csv_bytes(everyone(org, **{"10002": {"name": "佐藤 壱郎"}}))
    report = run(raw)
    assert report.ok, report.issues  # the BOM must not hide the first column (employee_number)
    assert report.encoding == "utf-8-sig"
    assert by_number("10002").name == "佐藤 壱郎"


def test_utf8_with_bom_and_japanese_headers_in_another_order_and_case(org):
    header = ["メール", "氏名", "職員番号", "職級コード", "所属コード", "Name_Kana"]
    rows = [[r[3], r[1], r[0], r[4], r[5], r[2]] for r in everyone(org)]
    report = run(csv_bytes(rows, header, encoding="utf-8-sig"))
    assert report.ok, report.issues
    assert report.unchanged == 3


def test_a_code_column_wins_over_a_name_column_for_the_same_field(org):
    """HR exports often carry both 所属コード and 所属 (the division's name)."""
    header = ["職員番号", "氏名", "メールアドレス", "職級", "所属", "所属コード"]
    rows = [[r[0], r[1], r[3], r[4], "人事課" if r[5] == "D110" else "財政課", r[5]] for r in everyone(org)]
    report = run(csv_bytes(rows, header, encoding="cp932"))
    assert report.ok, report.issues
    assert report.unchanged == 3


def test_line_numbers_count_blank_lines_and_quoted_newlines(org):
    raw = (
        "employee_number,name,email,grade,unit\r\n"
        "10001,山田 花子,yamada@pref.example.lg.jp,KACHO,D110\r\n"
        "\r\n"
        '10002,"佐藤\n一郎",sato@pref.example.lg.jp,SHUJI,D110\r\n'
        "10003,鈴木 次郎,suzuki@pref.example.lg.jp,SHUNIN,D1\u202e10\r\n"
    ).encode()
    report = run(raw)
    # A line break inside a value refuses the file (issue 14), on the line where its record starts;
    # the record after it is still counted from its own physical line.
    assert [(i.line, i.field) for i in report.issues] == [(4, "name"), (6, "unit")]


def test_short_rows_are_read_as_empty_fields(org):
    raw = "employee_number,name,email,grade,unit\r\n10001,山田 花子,yamada@pref.example.lg.jp\r\n".encode()
    report = run(raw)
    assert [(i.line, i.field) for i in report.issues] == [(2, "grade"), (2, "unit")]


def test_progress_is_reported_for_large_files(org):
    rows = everyone(org) + [
        [f"3{n:04d}", f"職員 {n}", "", f"p{n}@pref.example.lg.jp", "SHUJI", "D120", ""] for n in range(447)
    ]
    calls: list[tuple[int, int]] = []
    report = import_staff(csv_bytes(rows), None, as_of=AS_OF, dry_run=False,
                          on_progress=lambda done, total: calls.append((done, total)))
    assert report.ok and len(report.added) == 447
    assert calls == [(200, 450), (400, 450), (450, 450)]
    assert db_session.scalar(select(func.count()).select_from(Employee).where(Employee.is_active)) == 450
