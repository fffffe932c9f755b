"""Races of recurring training, on SQLite and PostgreSQL, against a database of its own with real
commits (not the rolled-back test transaction: racers must see each other's commits):

- two schedulers running the cycle job at the same moment open each person's next cycle once
  (a repeating rule's new fiscal year, and a renewal after an expired completion), and the
  earlier cycle is superseded once;
- two HR users confirming the same roll-over at the same moment create next year's rules once;
  the loser is told there was nothing left to roll over, never a 500.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Recurrence
from app.catalog.services import create_assignment_rule
from app.completion.recertification import run_recurrence
from app.completion.services import record_manual_completion
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.confirming import confirm_form
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, serve_in_thread
from tests.racing import Post, assert_all_redirected, post_at_once, told

PEOPLE = 12
LATER = date(2027, 4, 2)  # a new fiscal year, and after every completion below has expired


@dataclass
class World:
    app: Flask
    yearly_rule: int
    renewal_rule: int
    hr_logins: list[str]


@pytest.fixture(scope="module")
def world(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("recurrence-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        division = factories.unit("情報政策課")
        hr = [factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,)) for _ in range(2)]
        people = [factories.employee(division, "SHUNIN") for _ in range(PEOPLE)]
        yearly = factories.course("SEC-YEARLY", title_ja="情報セキュリティ（毎年度）")
        expiring = factories.course("PRIVACY-12", title_ja="個人情報保護（12か月有効）")
        expiring.valid_for_months = 12
        grade = factories.grade("SHUNIN")
        yearly_rule, _ = create_assignment_rule(hr[0], yearly, grade, 2026, date(2027, 1, 31),
                                                recurrence=Recurrence.FISCAL_YEAR)
        renewal_rule, _ = create_assignment_rule(hr[0], expiring, grade, 2026, date(2026, 12, 25))
        for person in people:
            record_manual_completion(hr[0], person, expiring, date(2026, 1, 15), Decimal("1"), "")
        ethics = factories.course("ETHICS-2026", title_ja="公務員倫理", fiscal_year=2026)
        for code in ("KACHO", "HOSA", "SHUSA"):
            create_assignment_rule(hr[0], ethics, factories.grade(code), 2026, date(2026, 12, 25))
        db_session.commit()
        logins = [person.employee_number for person in hr]
        ids = (yearly_rule.id, renewal_rule.id)
    yield World(application, ids[0], ids[1], logins)
    application.extensions["manabi.engine"].dispose()


def _cycles(world: World, rule_id: int) -> dict[int, list[tuple[int, AssignmentStatus]]]:
    with world.app.app_context():
        rows = db_session.execute(select(Assignment.employee_id, Assignment.cycle, Assignment.status)
                                  .where(Assignment.rule_id == rule_id).order_by(Assignment.cycle)).all()
        db_session.rollback()
    found: dict[int, list[tuple[int, AssignmentStatus]]] = {}
    for employee_id, cycle, status in rows:
        found.setdefault(employee_id, []).append((cycle, status))
    return found


def test_two_schedulers_opening_cycles_at_once_open_each_once(world: World) -> None:
    reports = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def scheduler() -> None:
        try:
            with world.app.app_context():
                start.wait(timeout=30)
                reports.append(run_recurrence(LATER))
                db_session.commit()
        except BaseException as error:
            errors.append(error)
        finally:
            with world.app.app_context():
                db_session.remove()

    threads = [threading.Thread(target=scheduler, name=f"scheduler-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sum(r.opened for r in reports) == PEOPLE and sum(r.renewed for r in reports) == PEOPLE
    yearly = _cycles(world, world.yearly_rule)
    renewal = _cycles(world, world.renewal_rule)
    assert len(yearly) == len(renewal) == PEOPLE
    # Created in fiscal 2026 (cycle 1): fiscal 2027 opened once for each person.
    assert set(map(tuple, yearly.values())) == {((1, AssignmentStatus.SUPERSEDED), (2, AssignmentStatus.ACTIVE))}
    assert set(map(tuple, renewal.values())) == {((1, AssignmentStatus.SUPERSEDED), (2, AssignmentStatus.ACTIVE))}
    with world.app.app_context():
        assert run_recurrence(LATER).opened == 0  # and a later run finds nothing to do
        db_session.rollback()


def test_two_hr_users_confirming_the_same_rollover_create_next_years_rules_once(world: World) -> None:
    with serve_in_thread(world.app, "rollover-live-server") as (port, errors):
        browsers = [HttpClient("127.0.0.1", port).sign_in(login) for login in world.hr_logins]
        path = "/catalog/rules/rollover"
        # each has the preview open (its confirm form carries the preview's fingerprint), ticks, presses
        posts = [Post(b, path, {**dict(confirm_form(b.get(f"{path}?from_year=2026").text)[1]), "confirm": "y"})
                 for b in browsers]
        results = post_at_once(posts)
        assert_all_redirected(results, errors)
        messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert len(messages) == 2
    assert messages[0].startswith("2026 年度に繰り越すルールはありません"), messages
    assert messages[1].startswith("繰り越しました：2027 年度のルール 4 件"), messages
    with world.app.app_context():
        successors = db_session.scalar(select(func.count()).select_from(AssignmentRule).where(
            AssignmentRule.fiscal_year == 2027, AssignmentRule.previous_rule_id.is_not(None)))
        rolled = db_session.scalar(select(func.count()).select_from(AssignmentRule).where(
            AssignmentRule.rolled_over_at.is_not(None)))
        db_session.rollback()
    assert successors == rolled == 4  # the yearly rule repeats by itself: not rolled over
