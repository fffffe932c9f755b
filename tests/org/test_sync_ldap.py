"""`flask org sync-ldap [--apply]` against a real slapd (tests/ldap_server.py): the staff list read from
the directory goes through the staff CSV import's own plan and apply.

What HR notices: the dry run lists who would be added, moved and deactivated and changes nothing;
--apply makes exactly those changes (heads included); a broken entry is named by its DN and
attribute and nothing at all is applied.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, Connection, Server
from sqlalchemy import select

from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit
from tests import factories
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    LdapServer,
    client_settings,
    dn_of,
    person,
)
from tests.ldap_server import UNITS as DIRECTORY_UNITS
from tests.org.test_import_service import snapshot

AS_OF = "2026-04-01"


@pytest.fixture
def directory(app: Flask, ldap_server: LdapServer, monkeypatch: pytest.MonkeyPatch) -> LdapServer:
    for key, value in client_settings(ldap_server, BREAK_GLASS_LOGINS=["900001"]).items():
        monkeypatch.setitem(app.config, key, value)
    return ldap_server


@pytest.fixture
def organisation(app: Flask) -> dict[str, int]:
    """Manabi before the sync: the directory's three units; 佐藤 as in the directory, 鈴木 still in
    財政課 at a lower grade, someone who left (not in the directory) and the break-glass administrator."""
    with app.app_context():
        department = factories.unit("総務部", code="K01")
        personnel = factories.unit("人事課", department, code="K0101")
        finance = factories.unit("財政課", department, code="K0102")
        sato = person("sato")
        factories.employee(department, "BUCHO", number=sato.number, name=f"{sato.family} {sato.given}",
                           email=sato.email, heads=department)
        factories.employee(finance, "SHUSA", number="100002", name="鈴木 花子", email=person("suzuki").email)
        factories.employee(personnel, "SHUJI", number="100099", name="退職 予定")
        factories.employee(finance, "BUCHO", number="900001", roles=(RoleName.ADMIN,))
        return {"K01": department.id, "K0101": personnel.id, "K0102": finance.id}


def sync(runner, *options: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["org", "sync-ldap", "--as-of", AS_OF, *options])


def everyone(app: Flask) -> dict[str, tuple[str | None, str | None, bool]]:
    with app.app_context():
        rows = db_session.execute(select(Employee.employee_number, Unit.code, Employee.email, Employee.is_active)
                                  .join(Unit, Unit.id == Employee.unit_id, isouter=True))
        return {number: (code, email, active) for number, code, email, active in rows}


def current(app: Flask) -> dict[str, object]:
    with app.app_context():
        return snapshot()


def test_the_dry_run_lists_the_changes_and_changes_nothing(app, runner, directory, organisation):
    before = current(app)
    result = sync(runner)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Would change (dry run, nothing applied)" in out
    assert "added: 2" in out and "100003 高橋 健" in out and "100004 田中 美咲" in out
    assert "transferred: 1" in out and "100002 鈴木 花子 財政課 → 人事課; 主査級 → 課長級" in out
    assert "deactivated: 1" in out and "100099" in out
    assert "900001" not in out  # the break-glass administrator stays
    assert "unit heads: 1" in out and "人事課: - → 鈴木 花子" in out
    assert "unchanged: 1" in out  # 佐藤, head of 総務部 already
    assert "people read" in result.stderr  # progress
    assert current(app) == before


def test_apply_makes_the_changes_of_the_plan(app, runner, directory, organisation):
    result = sync(runner, "--apply")
    assert result.exit_code == 0, result.output
    assert "Applied:" in result.stdout
    people = everyone(app)
    assert people["100003"] == ("K0101", person("takahashi").email, True)
    assert people["100004"] == ("K0102", person("tanaka").email, True)
    assert people["100002"][0] == "K0101"
    assert people["100099"][2] is False
    assert people["900001"][2] is True
    with app.app_context():
        heads = dict(db_session.execute(select(Unit.code, Employee.employee_number)
                                        .join(Employee, Employee.id == Unit.head_id)).all())
    assert heads == {"K01": "100001", "K0101": "100002"}
    assert "unchanged: 4" in sync(runner).stdout  # run again: nothing left to do


@pytest.fixture
def directory_admin(ldap_server: LdapServer) -> Iterator[Connection]:
    connection = Connection(Server(ldap_server.url), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
    yield connection
    connection.unbind()


def modify(admin: Connection, dn: str, changes: dict[str, list[tuple[str, list[str]]]]) -> None:
    assert admin.modify(dn, changes), admin.result


def test_a_broken_entry_names_its_dn_and_attribute_and_nothing_is_applied(app, runner, directory, organisation,
                                                                          directory_admin):
    takahashi, tanaka = person("takahashi"), person("tanaka")
    finance = dn_of(next(u for u in DIRECTORY_UNITS if u.code == "K0102"))
    modify(directory_admin, takahashi.dn, {"mail": [(MODIFY_DELETE, [])]})
    modify(directory_admin, tanaka.dn, {"departmentNumber": [(MODIFY_REPLACE, ["K9999"])]})
    modify(directory_admin, finance, {"seeAlso": [(MODIFY_REPLACE, [takahashi.dn])]})
    before = current(app)
    try:
        result = sync(runner, "--apply")
    finally:
        modify(directory_admin, takahashi.dn, {"mail": [(MODIFY_REPLACE, [takahashi.email])]})
        modify(directory_admin, tanaka.dn, {"departmentNumber": [(MODIFY_REPLACE, [tanaka.unit])]})
        modify(directory_admin, finance, {"seeAlso": [(MODIFY_DELETE, [])]})
    assert result.exit_code == 1, result.output
    assert "nothing was applied" in result.stderr
    assert f"{takahashi.dn}: email (mail): is empty" in result.stderr
    assert f"{tanaka.dn}: unit (departmentNumber): unknown division K9999" in result.stderr
    assert f"{finance}: seeAlso: the head {takahashi.dn} belongs to unit K0101" in result.stderr
    assert "Applied" not in result.stdout
    assert current(app) == before


def test_a_duplicate_employee_number_names_both_entries(app, runner, directory, organisation, directory_admin):
    takahashi = person("takahashi")
    modify(directory_admin, takahashi.dn, {"employeeNumber": [(MODIFY_REPLACE, ["100002"])]})
    before = current(app)
    try:
        result = sync(runner, "--apply")
    finally:
        modify(directory_admin, takahashi.dn, {"employeeNumber": [(MODIFY_REPLACE, [takahashi.number])]})
    assert result.exit_code == 1, result.output
    first, second = sorted([person("suzuki").dn, takahashi.dn])  # the directory's order is its own
    assert "employee_number (employeeNumber): 100002 appears twice" in result.stderr
    assert first in result.stderr and second in result.stderr
    assert current(app) == before


def test_a_directory_that_cannot_be_reached_applies_nothing(app, runner, directory, organisation, monkeypatch):
    monkeypatch.setitem(app.config, "LDAP_BIND_PASSWORD", "wrong")
    before = current(app)
    result = sync(runner, "--apply")
    assert result.exit_code == 1
    assert "The directory cannot be used" in result.stderr
    assert current(app) == before
