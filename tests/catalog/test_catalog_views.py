from __future__ import annotations

import re

import pytest

from app.org.models import RoleName
from tests import factories
from tests.confirming import fingerprint_of, press_confirm
from tests.querycount import count_statements


@pytest.fixture
def employee(app):
    with app.app_context():
        return factories.employee(grade_code="SHUNIN")


@pytest.fixture
def hr(app):
    with app.app_context():
        return factories.employee(roles=(RoleName.HR,))


def titles(html: str) -> list[str]:
    return re.findall(r'class="card__title"><a href="[^"]+">([^<]+)</a>', html)


@pytest.mark.parametrize(
    "query",
    ["データ", "ﾃﾞｰﾀ", "でーた", "ＲＰＡ", "rpa", "ｒｐａ", "data  basics", "DATA-101"],
)
def test_search_ignores_width_and_kana_differences(app, client, employee, query):
    with app.app_context():
        factories.course("DATA-101", title_ja="データ活用入門", title_en="Data basics")
        factories.course("RPA-101", title_ja="RPAと業務改善", title_en="RPA and process redesign")
        factories.course("SEC-101", title_ja="情報セキュリティ基礎", title_en="Information security")
    factories.login_as(client, employee)
    found = titles(client.get("/catalog/", query_string={"q": query}).get_data(as_text=True))
    is_rpa = query.lower() in ("ｒｐａ", "rpa", "ＲＰＡ") or "ｒｐａ" in query.lower()
    expected = "RPAと業務改善" if is_rpa else "データ活用入門"
    assert found == [expected]


def test_filters_by_track_theme_grade_format_and_year(app, client, employee):
    with app.app_context():
        factories.course("A", title_ja="課長級デジタル研修", track="grade_training", theme="smart_government",
                         grades=("KACHO",), delivery_format="blended", fiscal_year=2020)
        factories.course("B", title_ja="テレワーク実践", track="elective", theme="smart_workstyle",
                         grades=("SHUNIN", "SHUJI"), delivery_format="online", fiscal_year=2020)
        factories.course("C", title_ja="翌年度の研修", track="elective", theme="general", fiscal_year=2021)
        kacho = factories.grade("KACHO").id
    factories.login_as(client, employee)

    def listed(**args: object) -> list[str]:
        return titles(client.get("/catalog/", query_string=args).get_data(as_text=True))

    assert listed(track="grade_training") == ["課長級デジタル研修"]
    assert listed(theme="smart_workstyle") == ["テレワーク実践"]
    assert listed(grade=kacho) == ["課長級デジタル研修"]
    assert listed(format="online") == ["テレワーク実践"]
    assert listed(fy=2021) == ["翌年度の研修"]
    assert listed(track="no-such-track") == listed()  # unknown values are ignored, not errors


def test_catalog_marks_my_grade_and_my_assignments(app, client, employee):
    with app.app_context():
        mine = factories.course(title_ja="主任級デジタル研修", grades=("SHUNIN",))
        factories.course(title_ja="課長級デジタル研修", grades=("KACHO",))
        factories.assignment_rule(mine, "SHUNIN")
    factories.login_as(client, employee)
    html = client.get("/catalog/").get_data(as_text=True)
    cards = html.split('class="card"')[1:]
    chief = next(c for c in cards if "主任級デジタル研修" in c)
    section = next(c for c in cards if "課長級デジタル研修" in c)
    assert "あなたの職級向け" in chief and "受講が指定されています" in chief
    assert "あなたの職級向け" not in section and "受講が指定されています" not in section


def test_catalog_statement_count_does_not_grow_with_page_size(app, client, employee):
    with app.app_context():
        for n in range(3):
            c = factories.course(title_ja=f"少ない{n}", grades=("SHUNIN", "KACHO"))
            factories.assignment_rule(c, "SHUNIN", fiscal_year=2020 + n)
    factories.login_as(client, employee)
    client.get("/catalog/")  # warm-up (session user load etc.)
    with count_statements(app) as few:
        assert client.get("/catalog/").status_code == 200
    with app.app_context():
        for n in range(17):
            c = factories.course(title_ja=f"多い{n}", grades=("SHUNIN", "KACHO", "HOSA"))
            factories.assignment_rule(c, "SHUNIN", fiscal_year=2030 + n)
    with count_statements(app) as many:
        html = client.get("/catalog/").get_data(as_text=True)
    assert len(titles(html)) == 20
    assert many.count == few.count, many.statements
    # user, roles, count, page, target grades, grades, years, assignments, sessions, unread count, units
    assert many.count <= 12, many.statements


def test_drafts_are_invisible_to_employees(app, client, employee):
    with app.app_context():
        factories.course("DRAFT-1", title_ja="下書きの研修", status="draft")
    factories.login_as(client, employee)
    assert "下書きの研修" not in client.get("/catalog/").get_data(as_text=True)
    assert client.get("/catalog/courses/DRAFT-1").status_code == 404


def test_course_page_renders_markdown_safely(app, client, employee):
    with app.app_context():
        factories.course("XSS-1", body="## ねらい\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2))\n\n"
                                      '<img src=x onerror="alert(3)">')
    factories.login_as(client, employee)
    html = client.get("/catalog/courses/XSS-1").get_data(as_text=True)
    body = html.split('class="prose"')[1]
    assert "<h2>ねらい</h2>" in body
    assert "<script>alert" not in body and "javascript:" not in body and "onerror" not in body


def test_hr_creates_previews_publishes_and_exports_a_course(app, client, hr):
    factories.login_as(client, hr)
    token = factories.csrf_token(client, "/catalog/design/new")
    preview = client.post("/catalog/design/preview", data={"csrf_token": token,
                                                           "body_md": "## 概要\n\n<script>x</script>**太字**"})
    assert preview.json["html"].startswith("<h2>概要</h2>") and "<script>" not in preview.json["html"]
    form = {
        "csrf_token": token, "code": "WEB-DATA-2026", "kind": "course", "title_ja": "データ可視化演習",
        "title_en": "Data visualisation practice", "track": "elective", "theme": "smart_solutions",
        "delivery_format": "online", "hours": "2.5", "fiscal_year": "2026", "target_grades": ["SHUNIN", "SHUSA"],
        "prerequisites": "", "min_attendance": "100", "quiz_pass_mark": "70", "survey_required": "y",
        "body_md": "## ねらい\n\nグラフで伝える。", "electives_required": "0",
    }
    response = client.post("/catalog/design/new", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/catalog/courses/WEB-DATA-2026"
    page = client.get("/catalog/courses/WEB-DATA-2026").get_data(as_text=True)
    assert "データ可視化演習" in page and "下書き" in page
    preview = client.post("/catalog/design/WEB-DATA-2026/publish", data={"csrf_token": token})
    assert preview.status_code == 200 and "下書きには戻せません" in preview.get_data(as_text=True)
    response = press_confirm(client, preview)
    assert response.status_code == 302
    exported = client.get("/catalog/design/WEB-DATA-2026/export")
    assert exported.headers["Content-Disposition"] == 'attachment; filename="web-data-2026.md"'
    text = exported.get_data(as_text=True)
    assert text.startswith("---\ncode: WEB-DATA-2026\n") and "グラフで伝える。" in text


def test_course_form_errors_name_the_field(app, client, hr):
    factories.login_as(client, hr)
    token = factories.csrf_token(client, "/catalog/design/new")
    response = client.post("/catalog/design/new", data={
        "csrf_token": token, "code": "bad code!", "kind": "course", "title_ja": "", "title_en": "X",
        "track": "elective", "theme": "general", "delivery_format": "online", "hours": "-1",
        "fiscal_year": "20", "min_attendance": "150", "prerequisites": "NOPE-1"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field_id in ("code", "title_ja", "hours", "fiscal_year", "min_attendance"):
        assert f'id="{field_id}-error"' in html, field_id


def test_edit_after_enrolment_keeps_a_version_history(app, client, hr):
    with app.app_context():
        factories.course("HIST-1", title_ja="初版タイトル")
    factories.login_as(client, hr)
    page = client.get("/catalog/design/HIST-1/edit").get_data(as_text=True)
    token = factories.csrf_token(client, "/catalog/design/HIST-1/edit")
    values = dict(re.findall(r'<input[^>]*id="(\w+)"[^>]*value="([^"]*)"', page))
    form = {k: values.get(k, "")
            for k in ("code", "title_en", "hours", "fiscal_year", "min_attendance", "prerequisites")}
    form.update({"csrf_token": token, "kind": "course", "title_ja": "第二版タイトル", "track": "elective",
                 "theme": "general", "delivery_format": "classroom", "target_grades": ["SHUNIN"],
                 "body_md": "改訂", "change_note": "タイトル変更"})
    response = client.post("/catalog/design/HIST-1/edit", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    history = client.get("/catalog/design/HIST-1/versions").get_data(as_text=True)
    assert "初版タイトル" in history and "第二版タイトル" in history and "タイトル変更" in history


def test_employees_cannot_design(app, client, employee):
    factories.login_as(client, employee)
    assert client.get("/catalog/design/new").status_code == 403
    token = factories.csrf_token(client, "/catalog/")
    assert client.post("/catalog/design/preview", data={"csrf_token": token, "body_md": "x"}).status_code == 403


def test_retiring_needs_a_confirmation(app, client, hr):
    with app.app_context():
        factories.course("RET-1", title_ja="廃止予定の研修")
    factories.login_as(client, hr)
    token = factories.csrf_token(client, "/catalog/courses/RET-1")
    preview = client.post("/catalog/design/RET-1/retire", data={"csrf_token": token})
    assert "廃止すると、すぐに研修一覧から外れ" in preview.get_data(as_text=True)
    assert "廃止予定の研修" in client.get("/catalog/").get_data(as_text=True)
    shown = fingerprint_of(preview.get_data(as_text=True))
    done = client.post("/catalog/design/RET-1/retire", data={"csrf_token": token, "fingerprint": shown},
                       follow_redirects=True)
    assert "廃止しました" in done.get_data(as_text=True)
    assert "廃止予定の研修" not in client.get("/catalog/").get_data(as_text=True)
