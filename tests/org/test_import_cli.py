"""`flask org import FILE [--dry-run] [--as-of]`: exit status, output, and what reaches the database.

Problems are printed as `file:line: column: message` on stderr whatever the interface language,
so these tests can check the line and column without depending on translations.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.db import db_session
from app.org.models import Placement
from tests.org.test_import_service import AS_OF, JA_HEADER, Org, by_number, csv_bytes, everyone, snapshot


def import_cmd(runner, path, *options):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["org", "import", str(path), *options])


def test_errors_exit_non_zero_print_line_and_field_and_apply_nothing(app, runner, tmp_path):
    with app.app_context():
        org = Org()
        rows = everyone(org, **{"10002": {"unit": "NOPE"}, "10003": {"email": "suzuki@"}})
        rows.append(["20001", "新人 太郎", "", "new@pref.example.lg.jp", "SHUJI", "D110", ""])
        path = tmp_path / "staff.csv"
        path.write_bytes(csv_bytes(rows))
        before = snapshot()
    result = import_cmd(runner, path, "--as-of", AS_OF.isoformat())
    assert result.exit_code == 1, result.output
    assert "staff.csv:3: unit:" in result.stderr and "NOPE" in result.stderr
    assert "staff.csv:4: email:" in result.stderr
    assert "20001" not in result.stdout
    with app.app_context():
        assert snapshot() == before


def test_missing_column_in_a_japanese_cp932_file(app, runner, tmp_path):
    with app.app_context():
        org = Org()
        header = [h for h in JA_HEADER if h != "メールアドレス"]
        rows = [r[:3] + r[4:] for r in everyone(org)]
        path = tmp_path / "職員.csv"
        path.write_bytes(csv_bytes(rows, header, encoding="cp932"))
        before = snapshot()
    result = import_cmd(runner, path)
    assert result.exit_code == 1
    assert "職員.csv:1: email:" in result.stderr
    with app.app_context():
        assert snapshot() == before


def test_unknown_division_in_a_cp932_file_names_the_japanese_column(app, runner, tmp_path):
    with app.app_context():
        org = Org()
        path = tmp_path / "staff.csv"
        path.write_bytes(csv_bytes(everyone(org, **{"10003": {"unit": "存在しない課"}}), JA_HEADER, encoding="cp932"))
    result = import_cmd(runner, path)
    assert result.exit_code == 1
    assert "staff.csv:4: unit (所属コード):" in result.stderr and "存在しない課" in result.stderr


def test_empty_file_exits_non_zero(app, runner, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = import_cmd(runner, path)
    assert result.exit_code == 1
    assert "empty.csv:1: file:" in result.stderr


def test_dry_run_prints_what_would_change_and_applies_nothing(app, runner, tmp_path):
    with app.app_context():
        org = Org()
        rows = everyone(org, **{"10002": {"unit": org.zaisei}})[1:]  # 10001 leaves, 10002 moves
        rows.append(["20001", "高橋 三郎", "", "takahashi@pref.example.lg.jp", "SHUJI", "D120", ""])
        path = tmp_path / "staff.csv"
        path.write_bytes(csv_bytes(rows))
        before = snapshot()
    result = import_cmd(runner, path, "--dry-run", "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "dry run" in out
    assert "added: 1" in out and "20001 高橋 三郎" in out
    assert "transferred: 1" in out and "10002 佐藤 一郎 人事課 → 財政課" in out
    assert "deactivated: 1" in out and "10001 山田 花子" in out
    assert "unit heads: 1" in out
    assert "unchanged: 1" in out
    with app.app_context():
        assert snapshot() == before


def test_apply_commits_the_changes_dated_as_of(app, runner, tmp_path):
    with app.app_context():
        org = Org()
        path = tmp_path / "staff.csv"
        path.write_bytes(csv_bytes(everyone(org, **{"10002": {"unit": org.zaisei, "grade": "SHUNIN"}})[1:]))
        zaisei_id, jinji_id = org.zaisei.id, org.jinji.id
    result = import_cmd(runner, path, "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.output
    assert "Applied:" in result.stdout and "transferred: 1" in result.stdout
    assert "Importing staff.csv" in result.stderr  # the progress bar's label
    with app.app_context():
        moved = by_number("10002")
        assert moved.unit_id == zaisei_id and moved.grade is not None and moved.grade.code == "SHUNIN"
        history = db_session.execute(select(Placement.unit_id, Placement.started_on, Placement.ended_on)
                                     .where(Placement.employee_id == moved.id).order_by(Placement.started_on)).all()
        assert [tuple(h) for h in history][1:] == [(zaisei_id, AS_OF, None)]
        assert history[0].ended_on == AS_OF - timedelta(days=1) and history[0].unit_id == jinji_id
        left = by_number("10001")
        assert not left.is_active
        event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "org.staff_imported"))
        assert event is not None and event.actor_id is None and event.after["deactivated"] == 1  # type: ignore[index]


def test_a_bad_as_of_date_is_a_usage_error(app, runner, tmp_path):
    path = tmp_path / "staff.csv"
    path.write_bytes(b"employee_number,name,email,grade,unit\r\n")
    result = import_cmd(runner, path, "--as-of", "2025/04/01")
    assert result.exit_code == 2


def test_a_missing_file_is_a_usage_error(app, runner, tmp_path):
    result = import_cmd(runner, tmp_path / "nope.csv")
    assert result.exit_code == 2
