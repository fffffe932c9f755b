"""The personnel system's staff upsert (POST /api/v1/staff/changes) as the 人事給与システム notices it:
April transfers dated as of 1 April, every problem named people[i].field with nothing applied,
dry runs, complete lists that deactivate, scopes and roles, idempotent retries, and two upserts
at once on a live server (both apply whole, never a mix)."""
from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.api.staff import MAX_PEOPLE
from app.audit.models import AuditEvent
from app.core.clock import today
from app.core.db import db_session
from app.org.models import Employee, Placement, RoleName, Unit
from tests import factories
from tests.api.conftest import bearer, client_token, make_client, make_token
from tests.conftest import build_app, migrate
from tests.http_client import Response, release_together, serve_in_thread
from tests.querycount import count_statements

CHANGES = "/api/v1/staff/changes"
APRIL = date(2027, 4, 1)


@pytest.fixture(autouse=True)
def november_2026() -> Iterator[None]:
    """The personnel system pushes next April's transfers in the autumn (as_of is within a year); time
    stands still, so every request of a test falls in one rate-limit minute."""
    with time_machine.travel(datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo")), tick=False):
        yield


@dataclass
class Org:
    """総務部 D100 with 人事課 D110 (10001 its head, 10002) and 財政課 D120 (10003); 企画課 D130 is empty."""

    ids: dict[str, int]

    @staticmethod
    def make() -> Org:
        dept = factories.unit("総務部", code="D100")
        jinji = factories.unit("人事課", dept, code="D110")
        zaisei = factories.unit("財政課", dept, code="D120")
        kikaku = factories.unit("企画課", dept, code="D130")
        head = factories.employee(jinji, "KACHO", heads=jinji, number="10001", name="山田 花子",
                                  email="yamada@pref.example.lg.jp")
        staff = factories.employee(jinji, "SHUJI", number="10002", name="佐藤 一郎", email="sato@pref.example.lg.jp")
        other = factories.employee(zaisei, "SHUNIN", number="10003", name="鈴木 次郎",
                                   email="suzuki@pref.example.lg.jp")
        return Org({"D110": jinji.id, "D120": zaisei.id, "D130": kikaku.id,
                    "10001": head.id, "10002": staff.id, "10003": other.id})


@pytest.fixture
def org(app: Flask) -> Org:
    with app.app_context():
        return Org.make()


@pytest.fixture
def system_token(app: Flask, client: FlaskClient) -> str:
    with app.app_context():
        return client_token(client, *make_client())


def item(number: str, name: str, email: str, unit: str, grade: str, **extra: object) -> dict[str, object]:
    return {"employee_number": number, "name": name, "email": email, "unit": unit, "grade": grade, **extra}


def everyone(**moves: dict[str, object]) -> list[dict[str, object]]:
    """The three people as the personnel system has them; `moves` changes some (by number)."""
    people = [item("10001", "山田 花子", "yamada@pref.example.lg.jp", "D110", "KACHO", is_head=True),
              item("10002", "佐藤 一郎", "sato@pref.example.lg.jp", "D110", "SHUJI"),
              item("10003", "鈴木 次郎", "suzuki@pref.example.lg.jp", "D120", "SHUNIN")]
    return [{**person, **moves.get(str(person["employee_number"]), {})} for person in people]


def changes(people: list[dict[str, object]], *, mode: str = "partial", as_of: date = APRIL,
            dry_run: bool = False) -> dict[str, object]:
    return {"as_of": as_of.isoformat(), "mode": mode, "dry_run": dry_run, "people": people}


def snapshot() -> dict[str, object]:
    """Everything an upsert may change, read from the database."""
    return {
        "employees": sorted(db_session.execute(select(
            Employee.employee_number, Employee.name, Employee.name_kana, Employee.email, Employee.unit_id,
            Employee.grade_id, Employee.is_active)).all()),
        "placements": sorted(db_session.execute(select(
            Placement.employee_id, Placement.unit_id, Placement.grade_id, Placement.started_on,
            Placement.ended_on)).all(), key=repr),
        "heads": sorted(db_session.execute(select(Unit.id, Unit.head_id)).all(), key=repr),
        "events": db_session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.action == "org.staff_imported")),
    }


def history(employee_id: int) -> list[tuple[int, date, date | None]]:
    return [tuple(row) for row in db_session.execute(  # type: ignore[misc]
        select(Placement.unit_id, Placement.started_on, Placement.ended_on)
        .where(Placement.employee_id == employee_id).order_by(Placement.started_on, Placement.id))]


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.content_type == "application/problem+json"
    return response.get_json()  # type: ignore[no-any-return]


# --- what the personnel system does --------------------------------------------------------------


def test_the_personnel_system_transfers_two_people_as_of_april(app, client, org, system_token):
    moves = [item("10002", "佐藤 一郎", "sato@pref.example.lg.jp", "D130", "SHUJI"),  # to 企画課
             item("10003", "鈴木 次郎", "suzuki@pref.example.lg.jp", "D120", "SHUSA")]  # promoted
    answer = client.post(CHANGES, json=changes(moves), headers=bearer(system_token))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["applied"] is True and body["as_of"] == "2027-04-01" and body["mode"] == "partial"
    assert body["transferred"] == {"count": 2, "employee_numbers": ["10002", "10003"]}
    assert body["added"]["count"] == body["deactivated"]["count"] == body["updated"]["count"] == 0
    with app.app_context():
        sato, suzuki = db_session.get(Employee, org.ids["10002"]), db_session.get(Employee, org.ids["10003"])
        assert sato.unit_id == org.ids["D130"] and suzuki.grade.code == "SHUSA"
        placed_on = date(2026, 4, 1)  # the factories' placements
        assert history(sato.id) == [(org.ids["D110"], placed_on, date(2027, 3, 31)), (org.ids["D130"], APRIL, None)]
        assert history(suzuki.id)[-1] == (org.ids["D120"], APRIL, None)
        assert db_session.get(Employee, org.ids["10001"]).is_active  # partial: nobody else is touched
        event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "org.staff_imported")).one()
        assert event.actor_id is None and event.after["transferred"] == 2
        assert "as of 2027-04-01" in event.summary and "人事給与システム" in event.summary
        assert "personnel_system" in event.summary


def test_newcomers_and_a_new_head_come_in_a_partial_upsert(app, client, org, system_token):
    people = [item("20001", "高橋 三郎", "takahashi@pref.example.lg.jp", "D130", "SHUSA", is_head=True,
                   name_kana="タカハシ サブロウ")]
    body = client.post(CHANGES, json=changes(people), headers=bearer(system_token)).get_json()
    assert body["added"] == {"count": 1, "employee_numbers": ["20001"]}
    assert body["heads"] == {"count": 1, "employee_numbers": ["20001"]}
    with app.app_context():
        newcomer = db_session.scalar(select(Employee).where(Employee.employee_number == "20001"))
        assert newcomer.name_kana == "タカハシ サブロウ" and newcomer.is_active
        assert db_session.get(Unit, org.ids["D130"]).head_id == newcomer.id
        assert history(newcomer.id) == [(org.ids["D130"], APRIL, None)]


def test_an_hr_persons_token_with_the_staff_scope_works_too(app, client, org):
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        secret, hr_id = make_token(hr, ("staff",)), hr.id
    moves = everyone(**{"10002": {"unit": "D120"}})
    answer = client.post(CHANGES, json=changes(moves), headers=bearer(secret))
    assert answer.status_code == 200 and answer.get_json()["transferred"]["employee_numbers"] == ["10002"]
    with app.app_context():
        event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "org.staff_imported")).one()
        assert event.actor_id == hr_id and "personal access token" in event.summary


def test_a_complete_list_deactivates_the_missing_person(app, client, org, system_token):
    people = [person for person in everyone() if person["employee_number"] != "10003"]
    body = client.post(CHANGES, json=changes(people, mode="complete"), headers=bearer(system_token)).get_json()
    assert body["deactivated"] == {"count": 1, "employee_numbers": ["10003"]}
    assert body["unchanged"] == 2 and body["applied"] is True
    with app.app_context():
        leaver = db_session.get(Employee, org.ids["10003"])
        assert not leaver.is_active
        assert history(leaver.id) == [(org.ids["D120"], date(2026, 4, 1), date(2027, 3, 31))]
        assert db_session.get(Employee, org.ids["10001"]).is_active


def test_a_partial_list_never_deactivates(app, client, org, system_token):
    body = client.post(CHANGES, json=changes(everyone()[:1]), headers=bearer(system_token)).get_json()
    assert body["deactivated"]["count"] == 0 and body["unchanged"] == 1
    with app.app_context():
        assert all(db_session.get(Employee, org.ids[n]).is_active for n in ("10001", "10002", "10003"))


def test_a_dry_run_answers_the_plan_and_writes_nothing(app, client, org, system_token):
    with app.app_context():
        before = snapshot()
    people = [*everyone(**{"10002": {"unit": "D130"}, "10003": {"email": "suzuki.jiro@pref.example.lg.jp"}}),
              item("20001", "高橋 三郎", "takahashi@pref.example.lg.jp", "D130", "SHUJI")]
    body = client.post(CHANGES, json=changes(people, dry_run=True), headers=bearer(system_token)).get_json()
    assert body["applied"] is False and body["dry_run"] is True
    assert body["transferred"]["employee_numbers"] == ["10002"]
    assert body["updated"]["employee_numbers"] == ["10003"]
    assert body["added"]["employee_numbers"] == ["20001"]
    with app.app_context():
        assert snapshot() == before


# --- all or nothing ------------------------------------------------------------------------------


def test_one_bad_item_among_valid_ones_is_a_422_naming_each_field_and_nothing_changes(app, client, org,
                                                                                     system_token):
    with app.app_context():
        before = snapshot()
    people = [*everyone(**{"10002": {"unit": "D130"}}),
              item("20001", "高橋 三郎", "not-an-address", "D999", "SHUJI"),
              item("20002", "", "ok@pref.example.lg.jp", "D130", "NOPE")]
    body = _problem(client.post(CHANGES, json=changes(people), headers=bearer(system_token)), 422)
    assert [(e["field"], e["in"]) for e in body["errors"]] == [
        ("people[3].email", "json"), ("people[3].unit", "json"), ("people[4].name", "json"),
        ("people[4].grade", "json")]
    assert "D999" in body["errors"][1]["message"] and "NOPE" in body["errors"][3]["message"]
    with app.app_context():
        assert snapshot() == before


def test_a_duplicate_names_the_other_item(app, client, org, system_token):
    people = [*everyone(), item("10002", "佐藤 二郎", "sato2@pref.example.lg.jp", "D110", "SHUJI"),
              item("20001", "高橋 三郎", "YAMADA@pref.example.lg.jp", "D110", "SHUJI", is_head=True)]
    body = _problem(client.post(CHANGES, json=changes(people), headers=bearer(system_token)), 422)
    found = {e["field"]: e["message"] for e in body["errors"]}
    assert set(found) == {"people[3].employee_number", "people[4].email", "people[4].is_head"}
    assert all("people[" in message for message in found.values()), found  # "also in people[1]", not "line 1"
    assert "people[1]" in found["people[3].employee_number"] and "people[0]" in found["people[4].email"]


def test_a_name_with_a_line_break_is_refused_and_one_starting_with_equals_is_kept_as_the_csv_does(
        app, client, org, system_token):
    with app.app_context():
        before = snapshot()
    broken = everyone(**{"10002": {"name": "佐藤\nBcc: evil@example.com"}})
    body = _problem(client.post(CHANGES, json=changes(broken), headers=bearer(system_token)), 422)
    assert [e["field"] for e in body["errors"]] == ["people[1].name"]
    assert "U+000A" in body["errors"][0]["message"]
    with app.app_context():
        assert snapshot() == before

    # The CSV import takes such a name as text; spreadsheets made from it neutralise the formula.
    formula = everyone(**{"10002": {"name": "=HYPERLINK(\"http://evil.example\")"}})
    answer = client.post(CHANGES, json=changes(formula), headers=bearer(system_token))
    assert answer.status_code == 200 and answer.get_json()["updated"]["employee_numbers"] == ["10002"]
    with app.app_context():
        assert db_session.get(Employee, org.ids["10002"]).name == "=HYPERLINK(\"http://evil.example\")"


@pytest.mark.parametrize("as_of", ["2028-01-01", "2025-11-01", "2027-02-30", "soon"])
def test_as_of_must_be_a_date_within_a_year(app, client, org, system_token, as_of):
    body = _problem(client.post(CHANGES, json={**changes(everyone()), "as_of": as_of},
                                headers=bearer(system_token)), 422)
    assert [e["field"] for e in body["errors"]] == ["as_of"]


def test_the_request_shape_is_checked_naming_each_field(app, client, org, system_token):
    people: list[dict[str, object]] = everyone()
    del people[2]["unit"]
    body = _problem(client.post(CHANGES, json={**changes(people), "mode": "some"}, headers=bearer(system_token)),
                    422)
    assert sorted(e["field"] for e in body["errors"]) == ["mode", "people[2].unit"]
    nobody = _problem(client.post(CHANGES, json=changes([]), headers=bearer(system_token)), 422)
    assert [e["field"] for e in nobody["errors"]] == ["people"]


def test_more_people_than_the_limit_is_a_422_naming_people(app, client, org, system_token):
    crowd = [item(f"9{n:05d}", "職員", f"p{n}@pref.example.lg.jp", "D110", "SHUJI") for n in range(MAX_PEOPLE + 1)]
    body = _problem(client.post(CHANGES, json=changes(crowd), headers=bearer(system_token)), 422)
    assert [e["field"] for e in body["errors"]] == ["people"]
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Employee)) == 3


# --- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["employee", "manager"])
def test_employees_and_managers_may_not_even_with_the_staff_scope(app, client, org, who):
    with app.app_context():
        jinji = db_session.get(Unit, org.ids["D110"])
        person = factories.employee(jinji) if who == "employee" else db_session.get(Employee, org.ids["10001"])
        secret = make_token(person, ("read", "staff"))
        before = snapshot()
    _problem(client.post(CHANGES, json=changes(everyone(**{"10002": {"unit": "D130"}})), headers=bearer(secret)),
             403)
    with app.app_context():
        assert snapshot() == before


def test_a_token_without_the_staff_scope_is_refused(app, client, org):
    with app.app_context():
        system = client_token(client, *make_client(scopes=("read",), name="閲覧だけのシステム"))
        hr_read_only = make_token(factories.employee(roles=(RoleName.HR,)), ("read",))
    for secret in (system, hr_read_only):
        body = _problem(client.post(CHANGES, json=changes(everyone()), headers=bearer(secret)), 403)
        assert "staff" in body["detail"]
    _problem(client.post(CHANGES, json=changes(everyone())), 401)


# --- retries and cost ----------------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_first_answer(app, client, org, system_token):
    request = changes(everyone(**{"10002": {"unit": "D130"}}))
    first = client.post(CHANGES, json=request, headers=bearer(system_token, **{"Idempotency-Key": "april-1"}))
    again = client.post(CHANGES, json=request, headers=bearer(system_token, **{"Idempotency-Key": "april-1"}))
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    other = client.post(CHANGES, json=changes(everyone()),
                        headers=bearer(system_token, **{"Idempotency-Key": "april-1"}))
    assert _problem(other, 422)["errors"][0]["field"] == "Idempotency-Key"
    with app.app_context():
        assert snapshot()["events"] == 1
        assert len(history(org.ids["10002"])) == 2


def test_a_retry_with_the_next_hours_token_replays_too(app, client, org):
    """The personnel system's token ran out between its request and its retry: the key is the
    system account's, not the token's, so the retry replays instead of applying twice."""
    with app.app_context():
        client_id, secret = make_client()
    request = changes(everyone(**{"10002": {"unit": "D130"}}))
    first = client.post(CHANGES, json=request,
                        headers=bearer(client_token(client, client_id, secret), **{"Idempotency-Key": "april-2"}))
    retry = client.post(CHANGES, json=request,
                        headers=bearer(client_token(client, client_id, secret), **{"Idempotency-Key": "april-2"}))
    assert first.status_code == retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    with app.app_context():
        assert snapshot()["events"] == 1


def test_the_statements_do_not_grow_with_the_people(app, client, org, system_token):
    """A bulk upsert: transferring 30 people costs the same statements as transferring 3."""
    with app.app_context():
        jinji = db_session.get(Unit, org.ids["D110"])
        crowd = [factories.employee(jinji, number=f"3{n:04d}") for n in range(30)]
        people = [item(p.employee_number, p.name, p.email, "D130", "SHUJI") for p in crowd]
    client.post(CHANGES, json=changes(people[:1]), headers=bearer(system_token))  # the minute's first request
    counts = []
    for batch in (people[1:4], people[4:]):
        with count_statements(app) as counted:
            answer = client.post(CHANGES, json=changes(batch), headers=bearer(system_token))
        assert answer.get_json()["transferred"]["count"] == len(batch)
        counts.append(counted.count)
    assert counts[0] == counts[1], counts


# --- two at once ---------------------------------------------------------------------------------

RACERS = 4


@dataclass
class StaffRaceSite:
    app: Flask
    port: int
    tokens: list[str]  # one per racer: requests of one token queue on its rate-limit row anyway
    units: list[str]
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture(scope="module")
def staff_race_site(make_database_url: Callable[[], str],
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffRaceSite]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("staff-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        dept = factories.unit("競合検証部", code="R000")
        units = [factories.unit(f"競合検証課{n}", dept, code=f"R{n:03d}").code for n in range(1, RACERS + 1)]
        home = factories.unit("元の課", dept, code="R900")
        factories.employee(home, number="S0000", email="shared@pref.example.lg.jp", name="共有 一郎")
        for n in range(1, RACERS + 1):
            factories.employee(home, number=f"P{n:04d}", email=f"p{n}@pref.example.lg.jp", name=f"個別 {n}")
        account = make_client()
        tokens = [client_token(application.test_client(), *account) for _ in range(RACERS)]
    with serve_in_thread(application, "staff-race-live-server") as (port, errors):
        yield StaffRaceSite(application, port, tokens, units, errors)


def test_upserts_at_once_apply_whole_one_after_the_other(staff_race_site: StaffRaceSite) -> None:
    """Each racer moves the shared person and its own person to its own division: every answer is
    whole (200, both moved) or a 409 with nothing of it written; the shared person ends with one
    open placement, in the division of one racer; each applied upsert is audited once."""
    site = staff_race_site
    as_of = today() + timedelta(days=30)

    def body(n: int) -> bytes:
        unit = site.units[n - 1]
        people = [item("S0000", "共有 一郎", "shared@pref.example.lg.jp", unit, "SHUNIN"),
                  item(f"P{n:04d}", f"個別 {n}", f"p{n}@pref.example.lg.jp", unit, "SHUNIN")]
        return json.dumps(changes(people, as_of=as_of)).encode()

    def job(n: int) -> Callable[[http.client.HTTPConnection], Response]:
        def post(connection: http.client.HTTPConnection) -> Response:
            connection.request("POST", CHANGES, body=body(n), headers={
                "Authorization": f"Bearer {site.tokens[n - 1]}", "Content-Type": "application/json"})
            raw = connection.getresponse()
            return Response(raw.status, raw.msg, raw.read().decode())
        return post

    connections = []
    for _ in range(RACERS):
        connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=120)
        connection.connect()
        connections.append(connection)
    results = release_together([job(n) for n in range(1, RACERS + 1)], connections)

    failures = [r if isinstance(r, BaseException) else (r.status, r.text[:300])
                for r in results if isinstance(r, BaseException) or r.status not in (200, 409)]
    assert not failures, failures
    assert not site.errors, site.errors[:3]
    applied = [n for n, r in enumerate(results, start=1) if isinstance(r, Response) and r.status == 200]
    assert applied, "at least the first upsert applies"
    for n in applied:  # what each was told: both its people moved
        assert json.loads(results[n - 1].text)["transferred"]["employee_numbers"] == ["S0000", f"P{n:04d}"]
    with site.app.app_context():
        units = dict(db_session.execute(select(Unit.code, Unit.id)).all())
        people = {e.employee_number: e for e in db_session.scalars(select(Employee))}
        for n in range(1, RACERS + 1):
            mine = people[f"P{n:04d}"]
            expected = units[site.units[n - 1]] if n in applied else units["R900"]
            assert mine.unit_id == expected, n
        shared = people["S0000"]
        assert shared.unit_id in {units[site.units[n - 1]] for n in applied}
        for person in people.values():  # never a mix: one open placement, where the person is
            open_placements = [unit for unit, _started, ended in history(person.id) if ended is None]
            assert open_placements == [person.unit_id], (person.employee_number, history(person.id))
        assert db_session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "org.staff_imported")) == len(applied)
