"""Finding 6 and 12 of issue 14 at the staff import: a name "Sato\\r\\nBcc: evil@example.com" was
stored and later written out as a real Bcc header; NUL and right-to-left overrides were accepted.
Now any such value refuses the whole file, naming its line and column, and nothing is applied."""
from __future__ import annotations

import pytest
from flask import Flask

from app.org.staff_csv import StaffFileError, read_file
from tests.org.test_import_cli import import_cmd
from tests.org.test_import_service import AS_OF, Org, csv_bytes, everyone, run, snapshot

ATTACK = "Sato\r\nBcc: evil@example.com"

REFUSED = {
    "the CSV Bcc attack in a name": ("name", ATTACK),
    "a bare LF in a name": ("name", "佐藤\n一郎"),
    "NUL in a name": ("name", "佐藤\x00一郎"),
    "a right-to-left override in a name": ("name", "佐藤\u202e一郎"),
    "a right-to-left isolate in the kana": ("name_kana", "サトウ\u2067イチロウ"),
    "a right-to-left mark in the kana": ("name_kana", "サトウ\u200fイチロウ"),
    "a pop directional formatting in an e-mail": ("email", "sato\u202c@pref.example.lg.jp"),
    "an escape in a unit code": ("unit", "D1\x1b10"),
    "a tab inside an employee number": ("employee_number", "100\t02"),
    "a line separator in a name": ("name", "佐藤\u2028一郎"),
}


@pytest.fixture
def org(ctx: Flask) -> Org:
    """test_import_service's organisation (a local fixture, as in test_import_steps)."""
    return Org()


def with_value(org: Org, field: str, value: str) -> list[list[str]]:
    rows = everyone(org)  # line 2 is 10001, line 3 is 10002, line 4 is 10003
    rows[1][["employee_number", "name", "name_kana", "email", "grade", "unit", "is_head"].index(field)] = value
    rows.append(["20001", "新人 太郎", "", "new@pref.example.lg.jp", "SHUJI", "D110", ""])  # valid, not added
    return rows


@pytest.mark.parametrize("field, value", REFUSED.values(), ids=REFUSED.keys())
def test_a_control_or_bidi_character_refuses_the_file_naming_line_and_field(org, field, value):
    before = snapshot()
    for dry_run in (True, False):
        report = run(csv_bytes(with_value(org, field, value)), dry_run=dry_run)
        assert not report.ok and not report.applied
        assert [(issue.line, issue.field) for issue in report.issues] == [(3, field)], report.issues
        code = next(f"U+{ord(c):04X}" for c in value if not c.isprintable() or c in "\u2028")
        assert code in report.issues[0].message
        assert snapshot() == before


def test_every_refused_value_in_the_file_is_reported_at_once(org):
    rows = everyone(org)
    rows[0][1] = ATTACK  # line 2 (a quoted field over two physical lines)
    rows[2][2] = "スズキ\u202eジロウ"  # line 5: the record before took lines 2 and 3
    before = snapshot()
    report = run(csv_bytes(rows))
    assert [(issue.line, issue.field) for issue in report.issues] == [(2, "name"), (5, "name_kana")]
    assert snapshot() == before


def test_the_reader_raises_with_line_field_and_character_but_not_the_character_itself():
    raw = csv_bytes([["10002", ATTACK, "", "sato@pref.example.lg.jp", "SHUJI", "D110", ""]])
    with pytest.raises(StaffFileError) as refused:
        read_file(raw)
    [problem] = refused.value.problems
    assert (problem.line, problem.field) == (2, "name") and "U+000D" in problem.message
    assert "\r" not in str(refused.value) and "line 2, name" in str(refused.value)


def test_surrounding_whitespace_is_still_trimmed_not_refused(org):
    rows = everyone(org)
    rows[1][1] = "\t佐藤 一郎\r\n"  # an Excel cell with a trailing line end: the value itself is clean
    report = run(csv_bytes(rows), dry_run=True)
    assert report.ok, report.issues


def test_the_command_prints_file_line_and_column_and_applies_nothing(app, runner, tmp_path):
    with app.app_context():
        org = Org()
        path = tmp_path / "staff.csv"
        path.write_bytes(csv_bytes(with_value(org, "name", ATTACK)))
        before = snapshot()
    result = import_cmd(runner, path, "--as-of", AS_OF.isoformat())
    assert result.exit_code == 1, result.output
    assert "staff.csv:3: name:" in result.stderr and "U+000D" in result.stderr
    assert "Bcc" not in result.stderr and "20001" not in result.stdout
    with app.app_context():
        assert snapshot() == before
