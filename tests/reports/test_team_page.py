"""The manager's team page and its exports: exactly the subtree they head, nothing of another
unit (not even through the exports or a unit id in the URL), filters that only narrow, overdue first."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from app.core.clock import today
from tests import factories
from tests.querycount import count_statements

STATUS_ORDER = ["overdue", "not_enrolled", "enrolled", "completed"]


@pytest.fixture
def org(app):  # type: ignore[no-untyped-def]
    """総務部 (部長) → 人事課 (課長) → 給与室; 総務部 → 財政課 (課長); 健康福祉部 → 福祉課, elsewhere.

    DX研修 is assigned to every 主任級 person, due yesterday; 文書研修 to every 主事・技師, due in a month.
      人事課  青木 (主任, overdue)        石井 (主事, enrolled in a coming session of 文書研修)
      給与室  上田 (主任, overdue)
      財政課  江藤 (主任, completed DX)   大野 (主事, not enrolled)
      福祉課  木村 (主任, overdue)         工藤 (主事, pending approval) — another department
    """
    from decimal import Decimal

    from app.completion.services import record_manual_completion
    from app.core.db import db_session

    with app.app_context():
        soumu = factories.unit("総務部", code="D-SOUMU")
        jinji = factories.unit("人事課", soumu, code="S-JINJI")
        kyuyo = factories.unit("給与室", jinji, code="S-KYUYO")
        zaisei = factories.unit("財政課", soumu, code="S-ZAISEI")
        fukushi = factories.unit("健康福祉部", code="D-FUKUSHI")
        fukushika = factories.unit("福祉課", fukushi, code="F-FUKUSHI")
        heads = {"soumu": factories.employee(soumu, "BUCHO", heads=soumu, name="総務 部長"),
                 "jinji": factories.employee(jinji, "KACHO", heads=jinji, name="人事 課長"),
                 "zaisei": factories.employee(zaisei, "KACHO", heads=zaisei, name="財政 課長"),
                 "fukushi": factories.employee(fukushi, "BUCHO", heads=fukushi, name="福祉 部長"),
                 "fukushika": factories.employee(fukushika, "KACHO", heads=fukushika, name="福祉 課長")}
        staff = {"aoki": factories.employee(jinji, "SHUNIN", name="青木 一郎"),
                 "ishii": factories.employee(jinji, "SHUJI", name="石井 花子"),
                 "ueda": factories.employee(kyuyo, "SHUNIN", name="上田 健"),
                 "eto": factories.employee(zaisei, "SHUNIN", name="江藤 聡"),
                 "ono": factories.employee(zaisei, "SHUJI", name="大野 愛"),
                 "kimura": factories.employee(fukushika, "SHUNIN", name="木村 陽子"),
                 "kudo": factories.employee(fukushika, "SHUJI", name="工藤 翔")}
        dx = factories.course("DX-1", title_ja="DX研修")
        docs = factories.course("DOC-1", title_ja="文書研修", grades=("SHUJI",))
        factories.assignment_rule(dx, "SHUNIN", fiscal_year=2025, due_on=today() - timedelta(days=1))
        factories.assignment_rule(docs, "SHUJI", fiscal_year=2025, due_on=today() + timedelta(days=30))
        open_session = factories.training_session(docs, starts_in=timedelta(days=10))
        factories.enrolment(staff["ishii"], open_session)
        approval_session = factories.training_session(docs, starts_in=timedelta(days=12), policy="manager")
        factories.enrolment(staff["kudo"], approval_session, override=False)
        record_manual_completion(None, staff["eto"], dx, today(), Decimal("3"), "")  # type: ignore[arg-type]
        db_session.commit()
        units = {"soumu": soumu, "jinji": jinji, "kyuyo": kyuyo, "zaisei": zaisei, "fukushi": fukushi,
                 "fukushika": fukushika}
        return {"heads": heads, "staff": staff, "units": {k: u.id for k, u in units.items()},
                "grades": {g: factories.grade(g).id for g in ("SHUNIN", "SHUJI")}}


def names(org) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {key: person.name for key, person in org["staff"].items()}


def rows(page: str) -> list[tuple[str, str]]:
    """(name, status) of the assignment rows, in page order."""
    return re.findall(r'<tr class="status-([a-z_]+)"><th scope="row">([^<]+)</th>', page)


def people_on(page: str, org) -> set[str]:  # type: ignore[no-untyped-def]
    return {key for key, name in names(org).items() if name in page}


def listed(page: str, org) -> set[str]:  # type: ignore[no-untyped-def]
    """Whose assignment rows are on the page (the pending and upcoming lists are not filtered by status)."""
    shown = {name for _status, name in rows(page)}
    return {key for key, name in names(org).items() if name in shown}


def signed_in(app, org, head: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, org["heads"][head])
    return client


def test_a_department_head_sees_every_division_below(app, org):
    client = signed_in(app, org, "soumu")
    page = client.get("/team").get_data(as_text=True)
    assert people_on(page, org) == {"aoki", "ishii", "ueda", "eto", "ono"}
    assert [(s, n) for s, n in rows(page)] == [
        ("overdue", "青木 一郎"), ("overdue", "上田 健"), ("not_enrolled", "大野 愛"), ("enrolled", "石井 花子"),
        ("completed", "江藤 聡")]
    statuses = [s for s, _ in rows(page)]
    assert statuses == sorted(statuses, key=STATUS_ORDER.index)  # overdue first
    assert "福祉課" not in page and "工藤" not in page and "木村" not in page
    # only their own units in the filter
    options = re.findall(r'<option value="(\d+)"', page.split('id="unit"')[1].split("</select>")[0])
    assert {int(o) for o in options} == {org["units"][k] for k in ("soumu", "jinji", "kyuyo", "zaisei")}


def test_a_division_head_sees_only_their_division_and_the_offices_below(app, org):
    client = signed_in(app, org, "jinji")
    page = client.get("/team").get_data(as_text=True)
    assert people_on(page, org) == {"aoki", "ishii", "ueda"}
    assert "財政課" not in page
    other = signed_in(app, org, "fukushika")
    page = other.get("/team").get_data(as_text=True)
    assert people_on(page, org) == {"kimura", "kudo"}
    pending = page.split('id="pending-heading"')[1].split("</section>")[0]
    assert "工藤 翔" in pending and "文書研修" in pending
    upcoming = client.get("/team").get_data(as_text=True).split('id="upcoming-heading"')[1].split("</section>")[0]
    assert "石井 花子" in upcoming


@pytest.mark.parametrize(("head", "unit"), [("soumu", "fukushika"), ("soumu", "fukushi"), ("jinji", "zaisei"),
                                            ("jinji", "soumu"), ("fukushika", "jinji")])
def test_another_units_id_in_the_url_is_refused(app, org, head, unit):
    client = signed_in(app, org, head)
    unit_id = org["units"][unit]
    assert client.get(f"/team?unit={unit_id}").status_code == 403
    assert client.get(f"/team/export.csv?unit={unit_id}").status_code == 403
    assert client.get(f"/team/export.xlsx?unit={unit_id}").status_code == 403
    assert client.get("/team?unit=999999").status_code == 403


def test_staff_without_a_unit_to_head_have_no_team_page(app, org):
    client = app.test_client()
    factories.login_as(client, org["staff"]["aoki"])
    assert client.get("/team").status_code == 403
    assert client.get("/team/export.csv").status_code == 403


def test_filters_narrow_within_the_subtree(app, org):
    client = signed_in(app, org, "soumu")

    def on(query: str) -> set[str]:
        page = client.get(f"/team?{query}").get_data(as_text=True)
        assert people_on(page, org) <= {"aoki", "ishii", "ueda", "eto", "ono"}  # never anyone outside
        return listed(page, org)

    assert on(f"unit={org['units']['zaisei']}") == {"eto", "ono"}
    assert on(f"unit={org['units']['jinji']}") == {"aoki", "ishii", "ueda"}  # the office below included
    assert on(f"unit={org['units']['kyuyo']}") == {"ueda"}
    assert on(f"grade={org['grades']['SHUJI']}") == {"ishii", "ono"}
    assert on("status=overdue") == {"aoki", "ueda"}
    assert on("status=completed") == {"eto"}
    assert on("status=not_enrolled") == {"ono"}
    assert on("status=enrolled") == {"ishii"}
    assert on(f"status=overdue&unit={org['units']['zaisei']}") == set()
    assert on(f"grade={org['grades']['SHUNIN']}&unit={org['units']['jinji']}") == {"aoki", "ueda"}
    assert on("status=nonsense") == {"aoki", "ishii", "ueda", "eto", "ono"}  # an unknown status filters nothing
    page = client.get(f"/team?status=overdue&unit={org['units']['zaisei']}").get_data(as_text=True)
    assert "条件に一致する職員はいません。" in page
    # the per-course summary counts the units in scope, whatever the status filter
    page = client.get("/team?status=overdue").get_data(as_text=True)
    summary = page.split('id="summary-heading"')[1].split("</section>")[0]
    assert '>DX研修</th><td class="num">3</td><td class="num">1</td><td class="num">33%' in summary
    assert '>文書研修</th><td class="num">2</td><td class="num">0</td><td class="num">0%' in summary


def test_the_exports_hold_exactly_the_page(app, org):
    client = signed_in(app, org, "soumu")
    response = client.get("/team/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.data.decode("utf-8")
    assert body.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(body[1:])))
    assert table[0] == ["職員番号", "氏名", "所属", "職級", "研修", "受講期限", "状態"]
    assert [(r[1], r[2], r[6]) for r in table[1:]] == [
        ("青木 一郎", "人事課", "期限超過"), ("上田 健", "給与室", "期限超過"), ("大野 愛", "財政課", "未申込"),
        ("石井 花子", "人事課", "申込済み"), ("江藤 聡", "財政課", "修了")]
    assert "木村" not in body and "工藤" not in body

    filtered = client.get(f"/team/export.csv?status=overdue&unit={org['units']['jinji']}").data.decode("utf-8")
    assert [r[1] for r in csv.reader(io.StringIO(filtered[1:]))][1:] == ["青木 一郎", "上田 健"]

    response = client.get("/team/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    sheet = workbook[workbook.sheetnames[0]]
    values = list(sheet.iter_rows(values_only=True))
    workbook.close()
    assert values[0] == ("職員番号", "氏名", "所属", "職級", "研修", "受講期限", "状態")
    assert [v[1] for v in values[1:]] == ["青木 一郎", "上田 健", "大野 愛", "石井 花子", "江藤 聡"]
    assert not any("木村" in str(v) or "工藤" in str(v) for row in values for v in row)

    division = signed_in(app, org, "jinji")
    text = division.get("/team/export.csv").data.decode("utf-8")
    assert [r[1] for r in csv.reader(io.StringIO(text[1:]))][1:] == ["青木 一郎", "上田 健", "石井 花子"]
    workbook = load_workbook(io.BytesIO(division.get("/team/export.xlsx").data), read_only=True)
    assert [r[1] for r in workbook[workbook.sheetnames[0]].iter_rows(values_only=True)][1:] == [
        "青木 一郎", "上田 健", "石井 花子"]
    workbook.close()


def test_team_page_runs_a_fixed_number_of_statements(app, org):
    """Grow the department from 7 to 39 people (pending requests and coming sessions too)."""
    from app.core.db import db_session
    from app.org.models import Unit

    client = signed_in(app, org, "soumu")
    client.get("/team")  # warm-up

    def grow(count: int, first: int) -> None:
        with app.app_context():
            jinji, zaisei = db_session.get(Unit, org["units"]["jinji"]), db_session.get(Unit, org["units"]["zaisei"])
            session = factories.training_session(factories.course(f"GROW-{first}", grades=("SHUNIN", "SHUJI")),
                                                 starts_in=timedelta(days=5), policy="manager")
            for n in range(count):
                person = factories.employee(jinji if n % 2 else zaisei, ("SHUNIN", "SHUJI")[n % 2])
                factories.enrolment(person, session, override=n % 3 == 0)
            dx = factories.course(f"EXTRA-{first}", grades=("SHUNIN",))
            factories.assignment_rule(dx, "SHUNIN", fiscal_year=2025, due_on=today() + timedelta(days=first))

    grow(2, 1)
    with count_statements(app) as few:
        small = client.get("/team").get_data(as_text=True)
    grow(30, 2)
    with count_statements(app) as many:
        large = client.get("/team").get_data(as_text=True)
    assert len(rows(large)) >= 3 * len(rows(small))
    assert many.count == few.count, many.statements
    # user (+ roles), headed units, subtree, assignments (+ their people's roles), completions, places,
    # pending (+ roles), upcoming (+ roles), grades, unread count
    assert many.count <= 14, many.statements
    with count_statements(app) as export:
        assert client.get("/team/export.csv").status_code == 200
    assert export.count <= many.count


def test_a_large_team_is_shown_a_hundred_rows_at_a_time(app, client):
    from tests import factories

    with app.app_context():
        department = factories.unit("大きな部")
        head = factories.employee(department, "BUCHO", heads=department)
        division = factories.unit("大きな課", parent=department)
        for _ in range(120):
            factories.employee(division, "SHUNIN")
        factories.assignment_rule(factories.course(grades=("SHUNIN",)), "SHUNIN", departments=[department])
    factories.login_as(client, head)
    first = client.get("/team").get_data(as_text=True)
    second = client.get("/team?page=2").get_data(as_text=True)
    rows = '<tr class="status-'
    assert first.count(rows) == 100 and second.count(rows) == 20
    assert "120 件" in first
    export = client.get("/team/export.csv").get_data(as_text=True)
    assert len(export.strip().splitlines()) == 121  # the header and every row


def test_long_pending_and_upcoming_lists_show_the_first_ones_and_say_how_many(app, org, monkeypatch):
    """A department has hundreds of coming sessions: the page lists the first few and the count."""
    from app.reports import team

    monkeypatch.setattr(team, "LIST_LIMIT", 1)
    with app.app_context():
        from app.core.db import db_session
        from app.org.models import Employee

        later = factories.training_session(factories.course("DOC-2", title_ja="文書研修 応用"),
                                           starts_in=timedelta(days=20))
        factories.enrolment(db_session.get(Employee, org["staff"]["aoki"].id), later)
    page = signed_in(app, org, "soumu").get("/team").get_data(as_text=True)
    upcoming = page.split('id="upcoming-heading"')[1].split("</section>")[0]
    assert "石井 花子" in upcoming and "青木 一郎" not in upcoming  # the sooner one first
    assert "全2件のうち、日付の近い順に1件を表示しています。" in upcoming
    fukushi = signed_in(app, org, "fukushika").get("/team").get_data(as_text=True)
    pending = fukushi.split('id="pending-heading"')[1].split("</section>")[0]
    assert "工藤 翔" in pending and "件を表示しています" not in pending  # one request: nothing to add


# --- HR: any unit's team page, one unit at a time -------------------------------------------------


@pytest.fixture
def hr(app, org):  # type: ignore[no-untyped-def]
    from app.org.models import RoleName

    with app.app_context():
        officer = factories.employee(factories.unit("人事委員会", code="D-HRC"), "SHUSA", roles=(RoleName.HR,),
                                     name="研修 担当")
    client = app.test_client()
    factories.login_as(client, officer)
    return client


def test_hr_chooses_any_unit_and_sees_its_team(app, org, hr):
    page = hr.get("/team")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "所属を選ぶと、その職員の研修状況を表示します。" in text
    assert listed(text, org) == set()  # nothing until a unit is chosen (not the whole prefecture at once)
    assert 'href="/reports/compliance"' in text
    options = {int(o) for o in re.findall(r'<option value="(\d+)"', text.split('id="unit"')[1].split("</select>")[0])}
    assert set(org["units"].values()) <= options  # every unit of the prefecture is offered

    assert listed(hr.get(f"/team?unit={org['units']['fukushika']}").get_data(as_text=True), org) == {"kimura", "kudo"}
    assert listed(hr.get(f"/team?unit={org['units']['soumu']}").get_data(as_text=True), org) == {
        "aoki", "ishii", "ueda", "eto", "ono"}
    overdue = hr.get(f"/team?unit={org['units']['jinji']}&status=overdue").get_data(as_text=True)
    assert listed(overdue, org) == {"aoki", "ueda"}
    body = hr.get(f"/team/export.csv?unit={org['units']['fukushika']}").data.decode("utf-8")
    assert [r[1] for r in csv.reader(io.StringIO(body[1:]))][1:] == ["木村 陽子", "工藤 翔"]
    assert hr.get(f"/team/export.xlsx?unit={org['units']['fukushika']}").status_code == 200
    assert hr.get("/team?unit=999999").status_code == 403  # no such unit


def test_a_manager_who_is_also_hr_starts_from_their_own_subtree(app, org):
    from app.core.db import db_session
    from app.org.models import RoleGrant, RoleName

    with app.app_context():
        db_session.add(RoleGrant(employee_id=org["heads"]["zaisei"].id, role=RoleName.HR))
        db_session.commit()
    client = signed_in(app, org, "zaisei")
    assert listed(client.get("/team").get_data(as_text=True), org) == {"eto", "ono"}
    assert listed(client.get(f"/team?unit={org['units']['fukushika']}").get_data(as_text=True), org) == {
        "kimura", "kudo"}


def test_managers_stay_in_their_subtree_while_hr_is_not_limited(app, org, hr):
    from app.core.db import db_session
    from app.org.models import Employee
    from app.permissions import can_view_team_unit

    with app.test_request_context():
        manager = db_session.get(Employee, org["heads"]["jinji"].id)
        assert manager is not None
        assert can_view_team_unit(manager, org["units"]["kyuyo"])
        assert not can_view_team_unit(manager, org["units"]["zaisei"])
    assert signed_in(app, org, "jinji").get(f"/team?unit={org['units']['zaisei']}").status_code == 403
    assert hr.get(f"/team?unit={org['units']['zaisei']}").status_code == 200
