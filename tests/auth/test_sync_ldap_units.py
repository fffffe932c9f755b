"""`flask org sync-ldap` reads the organisation chart too (units, their parents and heads) against a
real slapd (tests/ldap_server.py), with the units file's own plan and apply (app/org/unit_import.py)
before the people, in one transaction. (The people alone: tests/org/test_sync_ldap.py.)

What HR notices: a unit the directory has and Manabi lacks appears, with the people placed in it
and its head, in one run; a unit moved or renamed in the directory moves or is renamed in Manabi;
the dry run lists the units' changes and changes nothing; a broken entry is named by its DN and
attribute and nothing at all is applied.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, Connection, Server
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.audit.models import AuditEvent
from app.core.db import db_session
from app.org.models import Employee, Placement, Unit, UnitKind
from app.org.reference import ensure_grades
from tests import factories
from tests.conftest import build_app, migrate
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    PEOPLE_BASE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    UNITS_BASE,
    LdapServer,
    client_settings,
    dn_of,
    person,
)
from tests.ldap_server import UNITS as DIRECTORY_UNITS
from tests.log_capture import append_output
from tests.org.test_import_service import snapshot

ROOT = Path(__file__).resolve().parents[2]

AS_OF = "2026-04-01"
HEADQUARTERS, PERSONNEL, FINANCE = (dn_of(next(u for u in DIRECTORY_UNITS if u.code == code))
                                    for code in ("K01", "K0101", "K0102"))


@pytest.fixture
def directory(app: Flask, ldap_server: LdapServer, monkeypatch: pytest.MonkeyPatch) -> LdapServer:
    for key, value in client_settings(ldap_server, LDAP_UNIT_ATTRIBUTES={}).items():
        monkeypatch.setitem(app.config, key, value)
    return ldap_server


@pytest.fixture
def directory_admin(ldap_server: LdapServer) -> Iterator[Connection]:
    connection = Connection(Server(ldap_server.url), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
    yield connection
    connection.unbind()


def modify(admin: Connection, dn: str, changes: dict[str, list[tuple[str, list[str]]]]) -> None:
    assert admin.modify(dn, changes), admin.result


def people_of_the_directory(*units: Unit) -> None:
    """Everyone the directory lists, already in Manabi as the directory has them (heads included),
    for the units given."""
    known = {unit.code: unit for unit in units}
    for uid in ("sato", "suzuki", "takahashi", "tanaka"):
        entry = person(uid)
        if entry.unit in known:
            head = next((u for u in DIRECTORY_UNITS if u.head_uid == uid), None)
            factories.employee(known[entry.unit], entry.grade, number=entry.number, email=entry.email,
                               name=f"{entry.family} {entry.given}",
                               heads=known[head.code] if head is not None and head.code in known else None)


@pytest.fixture
def without_finance(app: Flask) -> None:
    """Manabi before the sync: 総務部 and 人事課 with their people; 財政課 (and 田中, who works
    there) only in the directory."""
    with app.app_context():
        department = factories.unit("総務部", code="K01")
        people_of_the_directory(department, factories.unit("人事課", department, code="K0101"))


@pytest.fixture
def whole_chart(app: Flask) -> None:
    """Manabi as the directory is: three units, four people, two heads."""
    with app.app_context():
        department = factories.unit("総務部", code="K01")
        people_of_the_directory(department, factories.unit("人事課", department, code="K0101"),
                                factories.unit("財政課", department, code="K0102"))


def sync(runner, *options: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["org", "sync-ldap", "--as-of", AS_OF, *options])


def chart(app: Flask) -> dict[str, tuple[str, str | None, str | None, bool]]:
    """Each unit by code: its name, its parent's code, its head's employee number, whether its path
    is its parent's path and its own id."""
    parent, head = aliased(Unit), aliased(Employee)
    with app.app_context():
        rows = db_session.execute(
            select(Unit.code, Unit.name, parent.code, head.employee_number, Unit.path, parent.path, Unit.id)
            .outerjoin(parent, parent.id == Unit.parent_id).outerjoin(head, head.id == Unit.head_id))
        return {code: (name, parent_code, head_number, path == f"{parent_path or '/'}{unit_id}/")
                for code, name, parent_code, head_number, path, parent_path, unit_id in rows}


def state(app: Flask) -> tuple[object, ...]:
    with app.app_context():
        units = sorted(db_session.execute(select(Unit.code, Unit.name, Unit.parent_id, Unit.path, Unit.head_id,
                                                 Unit.is_active)).all())
        events = db_session.scalar(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.action.in_(("org.units_imported", "org.staff_imported"))))
        return snapshot(), units, events


def test_a_unit_new_in_the_directory_is_added_with_its_people_and_head_in_one_run(
        app, runner, directory, without_finance, directory_admin):
    tanaka = person("tanaka")
    modify(directory_admin, FINANCE, {"seeAlso": [(MODIFY_REPLACE, [tanaka.dn])]})
    try:
        before = state(app)
        dry = sync(runner)
        assert dry.exit_code == 0, dry.output
        assert state(app) == before  # the dry run applied nothing, units included
        applied = sync(runner, "--apply")
        again = sync(runner)
    finally:
        modify(directory_admin, FINANCE, {"seeAlso": [(MODIFY_DELETE, [])]})
    assert "Would change (dry run, nothing applied)" in dry.stdout
    assert "units added: 1" in dry.stdout and "K0102 財政課" in dry.stdout
    assert "units unchanged: 2" in dry.stdout
    assert "added: 1" in dry.stdout and "100004 田中 美咲 財政課" in dry.stdout  # placed in the new unit
    assert "unit heads: 1" in dry.stdout and "財政課: - → 田中 美咲" in dry.stdout
    assert "Checking" in dry.stderr  # the progress bar

    assert applied.exit_code == 0, applied.output
    assert "Applied:" in applied.stdout and "units added: 1" in applied.stdout
    units = chart(app)
    assert units["K0102"] == ("財政課", "K01", tanaka.number, True)
    assert units["K0101"] == ("人事課", "K01", person("suzuki").number, True)
    with app.app_context():
        finance = db_session.scalar(select(Unit).where(Unit.code == "K0102"))
        assert finance is not None and finance.kind is UnitKind.DIVISION
        placed = db_session.scalar(select(Employee).where(Employee.employee_number == tanaka.number))
        assert placed is not None and placed.unit_id == finance.id
        actions = list(db_session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.in_(("org.units_imported", "org.staff_imported"))).order_by(AuditEvent.id)))
        assert actions == ["org.units_imported", "org.staff_imported"]  # units first, then the people

    assert again.exit_code == 0, again.output
    assert "units unchanged: 3" in again.stdout and "units added: 0" in again.stdout
    assert "unit heads: 0" in again.stdout


def test_a_unit_moved_and_renamed_in_the_directory_moves_and_is_renamed(
        app, runner, directory, whole_chart, directory_admin):
    moved = f"ou=K0102,{PERSONNEL}"
    assert directory_admin.modify_dn(FINANCE, "ou=K0102", new_superior=PERSONNEL), directory_admin.result
    modify(directory_admin, PERSONNEL, {"description": [(MODIFY_REPLACE, ["人事企画課"])]})
    try:
        before = state(app)
        dry = sync(runner)
        assert state(app) == before
        applied = sync(runner, "--apply")
    finally:
        assert directory_admin.modify_dn(moved, "ou=K0102", new_superior=HEADQUARTERS), directory_admin.result
        modify(directory_admin, PERSONNEL, {"description": [(MODIFY_REPLACE, ["人事課"])]})
    assert dry.exit_code == 0, dry.output
    assert "units moved: 1" in dry.stdout and "K0102 財政課: K01 → K0101" in dry.stdout
    assert "units updated: 1" in dry.stdout and "K0101 人事企画課" in dry.stdout
    assert "unit heads: 0" in dry.stdout and "unchanged: 4" in dry.stdout  # the people stay as they are
    assert applied.exit_code == 0, applied.output
    units = chart(app)
    assert units["K0102"] == ("財政課", "K0101", None, True)  # its path follows its new parent
    assert units["K0101"] == ("人事企画課", "K01", person("suzuki").number, True)


def test_parents_may_come_from_an_attribute_and_a_missing_one_applies_nothing(
        app, runner, directory, without_finance, directory_admin, monkeypatch):
    monkeypatch.setitem(app.config, "LDAP_UNIT_ATTRIBUTES", {"parent": "businessCategory"})
    assert sync(runner).exit_code == 0  # the attribute says what the tree says
    nobody = f"uid=nobody,{PEOPLE_BASE}"
    modify(directory_admin, FINANCE, {"businessCategory": [(MODIFY_REPLACE, ["K9999"])]})
    modify(directory_admin, PERSONNEL, {"seeAlso": [(MODIFY_REPLACE, [nobody])]})
    before = state(app)
    try:
        result = sync(runner, "--apply")
    finally:
        modify(directory_admin, FINANCE, {"businessCategory": [(MODIFY_REPLACE, ["K01"])]})
        modify(directory_admin, PERSONNEL, {"seeAlso": [(MODIFY_REPLACE, [person("suzuki").dn])]})
    assert result.exit_code == 1, result.output
    assert "nothing was applied" in result.stderr
    assert f"{FINANCE}: businessCategory: unknown unit code K9999" in result.stderr
    assert f"{PERSONNEL}: seeAlso: {nobody} is not one of the people read from the directory" in result.stderr
    assert "Applied" not in result.stdout
    assert state(app) == before  # no unit added, nobody placed, no head changed


def test_a_broken_unit_entry_names_its_dn_and_nothing_is_applied(app, runner, directory, without_finance,
                                                                directory_admin):
    nameless = f"ou=K0103,{HEADQUARTERS}"
    assert directory_admin.add(nameless, ["organizationalUnit"], {"ou": "K0103"}), directory_admin.result
    before = state(app)
    try:
        result = sync(runner, "--apply")
    finally:
        assert directory_admin.delete(nameless), directory_admin.result
    assert result.exit_code == 1, result.output
    assert f"{nameless}: description: the unit name is empty" in result.stderr
    assert state(app) == before  # 財政課 (a good entry) was not added either


def test_without_a_unit_base_only_people_are_read(app, runner, directory, whole_chart, monkeypatch):
    monkeypatch.setitem(app.config, "LDAP_UNIT_BASE", "")
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert "units " not in result.stdout and "unchanged: 4" in result.stdout


# --- two syncs at once --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed_site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database of its own, committed for real (no test transaction), as the
    `without_finance` organisation: 財政課 and 田中 are in the directory only. Its URL."""
    database_url = make_database_url()
    application = build_app(database_url, Path(tmp_path_factory.mktemp("sync-uploads")))
    try:
        migrate(application)
        with application.app_context():
            ensure_grades()
            db_session.commit()
            department = factories.unit("総務部", code="K01")
            people_of_the_directory(department, factories.unit("人事課", department, code="K0101"))
        yield database_url
    finally:
        application.extensions["manabi.engine"].dispose()


def sync_process(database_url: str, server: LdapServer) -> subprocess.Popen[str]:
    """`flask org sync-ldap --apply` as its own OS process, the way cron or an operator runs it."""
    flask = ROOT / ".venv" / "bin" / "flask"
    command = [str(flask)] if flask.exists() else [sys.executable, "-m", "flask"]
    env = {**os.environ, "FLASK_APP": "wsgi", "MANABI_CONFIG": "test", "TEST_DATABASE_URL": database_url,
           "LDAP_URL": server.url, "LDAP_START_TLS": "1", "LDAP_CA_FILE": server.ca_file, "LDAP_BIND_DN": SERVICE_DN,
           "LDAP_BIND_PASSWORD": SERVICE_PASSWORD, "LDAP_USER_BASE": PEOPLE_BASE, "LDAP_UNIT_BASE": UNITS_BASE,
           "LDAP_UNIT_ATTRIBUTES": "", "LDAP_PERSON_ATTRIBUTES": ""}
    return subprocess.Popen([*command, "org", "sync-ldap", "--apply", "--as-of", AS_OF], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_syncs_at_once_add_the_new_unit_and_its_people_once(committed_site, ldap_server, tmp_path):
    """Both start together and both succeed: the second waits for the first (the staff list's
    lock, or SQLite's one writer), then plans from what it wrote and finds nothing left to do."""
    processes = [sync_process(committed_site, ldap_server) for _ in range(2)]
    outputs = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        append_output("flask org sync-ldap", err)
        assert process.returncode == 0, (out, err[-3000:])
        outputs.append(out)
    assert sorted("units added: 1" in out for out in outputs) == [False, True], outputs
    assert sorted("units unchanged: 3" in out for out in outputs) == [False, True], outputs
    application = build_app(committed_site, tmp_path)
    try:
        with application.app_context():
            assert sorted(db_session.scalars(select(Unit.code))) == ["K01", "K0101", "K0102"]
            tanaka = db_session.scalars(select(Employee).where(Employee.employee_number == person("tanaka").number))
            [placed] = tanaka.all()
            assert placed.unit is not None and placed.unit.code == "K0102"
            placements = db_session.scalar(select(func.count()).select_from(Placement)
                                           .where(Placement.employee_id == placed.id))
            assert placements == 1
    finally:
        application.extensions["manabi.engine"].dispose()
