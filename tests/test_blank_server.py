"""A new installation, as README's "Installing on a blank server" runs it: an empty migrated
database, the organisation chart (`flask org import-units`), the staff list (`flask org import`),
the first administrator (`flask auth make-admin`), whose temporary password opens the site and must
be changed first. Also the units file's own checks: each problem names file, line and column, and
applies nothing."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit, UnitKind
from tests.factories import csrf_token

UNITS = """所属コード,所属名,英語名,上位所属コード,表示順
D100,総務部,General Affairs Department,,1
D110,人事課,Personnel Division,D100,2
D120,財政課,,D100,3
D200,デジタル推進局,,,4
D210,DX推進課,,D200,5
"""
STAFF = """職員番号,氏名,氏名カナ,メールアドレス,職級,所属コード,所属長
10001,山田 花子,ヤマダ ハナコ,yamada@pref.example.lg.jp,KACHO,D110,1
10002,佐藤 一郎,サトウ イチロウ,sato@pref.example.lg.jp,SHUJI,D110,
20001,高橋 健,タカハシ ケン,takahashi@pref.example.lg.jp,SHUNIN,D210,
"""


def write(tmp_path, name: str, text: str, encoding: str = "utf-8"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_from_an_empty_database_to_the_first_administrator_signed_in(app, runner, client, tmp_path):
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Employee)) == 0
    units = write(tmp_path, "units.csv", UNITS, "cp932")
    dry = runner.invoke(args=["org", "import-units", str(units), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "added: 5" in dry.stdout and "D110 人事課" in dry.stdout
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Unit)) == 0  # a dry run applies nothing

    applied = runner.invoke(args=["org", "import-units", str(units)])
    assert applied.exit_code == 0, applied.output
    staff = runner.invoke(args=["org", "import", str(write(tmp_path, "staff.csv", STAFF))])
    assert staff.exit_code == 0, staff.output
    with app.app_context():
        jinji = db_session.scalar(select(Unit).where(Unit.code == "D110"))
        assert jinji is not None and jinji.parent is not None and jinji.parent.code == "D100"
        assert jinji.kind is UnitKind.DIVISION and jinji.name_en == "Personnel Division"
        assert jinji.head is not None and jinji.head.employee_number == "10001"
        assert jinji.path == f"{jinji.parent.path}{jinji.id}/"

    made = runner.invoke(args=["auth", "make-admin", "20001"])
    assert made.exit_code == 0, made.output
    password = re.search(r"Temporary password \(.*\): (\S+)", made.stdout)
    assert password is not None
    with app.app_context():
        admin = db_session.scalar(select(Employee).where(Employee.employee_number == "20001"))
        assert admin is not None and RoleName.ADMIN in admin.roles
        actions = set(db_session.scalars(select(AuditEvent.action)))
        assert {"auth.role_granted", "auth.temporary_password_issued", "org.units_imported"} <= actions

    signed_in = client.post("/login", data={"login": "20001", "password": password.group(1),
                                            "csrf_token": csrf_token(client)})
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/account/password")
    assert client.get("/admin/staff").status_code == 302  # nothing else until the password is changed


def test_make_admin_names_a_missing_or_deactivated_person(app, runner):
    result = runner.invoke(args=["auth", "make-admin", "99999"])
    assert result.exit_code == 1
    assert "no employee numbered '99999'" in result.output and "flask org import" in result.output


def test_units_file_problems_name_line_and_column_and_apply_nothing(app, runner, tmp_path):
    bad = write(tmp_path, "units.csv", "所属コード,所属名,上位所属コード,表示順\n"
                                       "D100,総務部,,1\n"
                                       "D110,,D100,x\n"
                                       "D100,重複,,\n"
                                       "D130,行方不明,D999,\n")
    result = runner.invoke(args=["org", "import-units", str(bad)])
    assert result.exit_code == 1
    assert "units.csv:3: name (所属名):" in result.stderr
    assert "units.csv:3: sort_order (表示順): x is not a whole number" in result.stderr
    assert "units.csv:4: code (所属コード): unit D100 is already on line 2" in result.stderr
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Unit)) == 0

    unknown = write(tmp_path, "units2.csv", "code,name,parent\nD130,行方不明,D999\n")
    result = runner.invoke(args=["org", "import-units", str(unknown)])
    assert result.exit_code == 1 and "units2.csv:2: parent: unknown unit code D999" in result.stderr

    cycle = write(tmp_path, "units3.csv", "code,name,parent\nA,A,B\nB,B,A\n")
    result = runner.invoke(args=["org", "import-units", str(cycle)])
    assert result.exit_code == 1 and "would be placed under itself" in result.stderr
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Unit)) == 0


def test_a_second_file_renames_and_moves_a_unit_with_its_subtree(app, runner, tmp_path):
    assert runner.invoke(args=["org", "import-units", str(write(tmp_path, "u.csv", UNITS))]).exit_code == 0
    moved = write(tmp_path, "u2.csv", "code,name,parent\nD210,DX推進課,D100\nD200,デジタル戦略局,\n")
    result = runner.invoke(args=["org", "import-units", str(moved)])
    assert result.exit_code == 0, result.output
    assert "moved: 1" in result.stdout and "D210 DX推進課: D200 → D100" in result.stdout
    assert "updated: 1" in result.stdout
    with app.app_context():
        dx = db_session.scalar(select(Unit).where(Unit.code == "D210"))
        soumu = db_session.scalar(select(Unit).where(Unit.code == "D100"))
        assert dx is not None and soumu is not None and dx.path == f"{soumu.path}{dx.id}/"
        assert db_session.scalar(select(Unit.name).where(Unit.code == "D200")) == "デジタル戦略局"
    again = runner.invoke(args=["org", "import-units", str(moved)])
    assert "unchanged: 2" in again.stdout and "moved: 0" in again.stdout
