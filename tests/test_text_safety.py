"""The one text rule (app/core/text_safety.py), and the forms that apply it at the edge: issue 14,
finding 12 (NUL and right-to-left overrides were accepted in names and titles) and the edge half of
finding 6 (a subject or name with a line break reached a mail header).

Form tests check the status code, the field's error element and the database, never the wording
(it is translated)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.core.text_safety import BIDI_CONTROLS, UnsafeText, check_multi_line, check_single_line, find_unsafe
from app.org.models import RoleName
from app.reminders.models import MessageTemplate
from app.scheduling.models import TrainingSession
from tests import factories

CONTROLS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]
BIDI = sorted(BIDI_CONTROLS)
ALLOWED = ["山田 太郎", "佐々木　美咲", "ＤＸ推進（課長級）", "Tanaka, Alex", "髙橋 𠮷男", "👩‍💻 研修", "e\u0301",
           "ゼロ幅\u200bスペース", "", "=?utf-8?b?5bGx?=", "<b>&amp;</b>"]


@pytest.mark.parametrize("character", CONTROLS + BIDI + ["\u2028", "\u2029", "\ud800"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_a_single_line_value_refuses_every_control_line_break_and_bidi_control(character: str) -> None:
    problem = find_unsafe(f"佐藤{character}一郎")
    assert problem is not None and problem.position == 2 and problem.code == f"U+{ord(character):04X}"
    with pytest.raises(UnsafeText):
        check_single_line(f"佐藤{character}一郎")


@pytest.mark.parametrize("character", [c for c in CONTROLS if c not in "\t\n\r"] + BIDI + ["\ud800"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_a_multi_line_value_refuses_the_same_except_line_ends_and_tabs(character: str) -> None:
    with pytest.raises(UnsafeText):
        check_multi_line(f"一行目\n二行目{character}")


@pytest.mark.parametrize("value", ALLOWED)
def test_ordinary_japanese_and_english_text_passes(value: str) -> None:
    assert check_single_line(value) == value and check_multi_line(value) == value


def test_a_multi_line_value_keeps_what_a_browser_sends() -> None:
    body = "## ねらい\r\n\r\n- 一\t二\r\n- 三\u2028四\n"
    assert check_multi_line(body) == body
    assert find_unsafe(body) is not None  # but it is not one line


def test_the_error_names_the_character_by_code_point_only(ctx) -> None:  # type: ignore[no-untyped-def]
    for value, code in (("Sato\r\nBcc: evil@example.com", "U+000D"), ("佐藤\u202e一郎", "U+202E"),
                        ("佐藤\x00", "U+0000"), ("佐藤\t一郎", "U+0009")):
        problem = find_unsafe(value)
        assert problem is not None
        assert code in str(problem) and code in problem.describe()
        assert not any(c in str(problem) + problem.describe() for c in value if not c.isprintable())


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_what_passes_the_single_line_rule_is_one_line_of_writable_text(value: str) -> None:
    if find_unsafe(value) is None:
        assert len(value.splitlines()) <= 1 and value.splitlines() in ([], [value])
        value.encode("utf-8")
        assert not set(value) & BIDI_CONTROLS
    else:
        assert any(not c.isprintable() for c in value)  # something invisible or a line break caused it


# --- the forms ----------------------------------------------------------------------------------

@pytest.fixture
def hr(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee(roles=(RoleName.HR,))


TEMPLATE_URL = "/admin/outbox/templates/enrolment_confirmed/ja"


@pytest.mark.parametrize("field, value", [
    ("subject", "確定：{course}\r\nBcc: evil@example.com"),
    ("subject", "確定：{course}\x00"),
    ("subject", "確定：\u202e{course}"),
    ("subject", "確定：\t{course}"),
    ("body", "{name} 様\n\x00確定です。"),
    ("body", "{name} 様\n\u2066確定です。\u2069"),
])
def test_a_notification_template_with_a_refused_character_is_a_field_error(app, client, hr, field, value):
    factories.login_as(client, hr)
    data = {"subject": "確定：{course}", "body": "{name} 様\r\n確定です。\t以上", "action": "save", field: value}
    response = factories.post(client, TEMPLATE_URL, data, form_page=TEMPLATE_URL)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(MessageTemplate)) == 0


def test_a_clean_template_with_line_ends_and_tabs_in_the_body_is_saved(app, client, hr):
    factories.login_as(client, hr)
    data = {"subject": "確定：{course}", "body": "{name} 様\r\n確定です。\t以上", "action": "save"}
    assert factories.post(client, TEMPLATE_URL, data, form_page=TEMPLATE_URL).status_code == 302


def course_form(**changes: str) -> dict[str, object]:
    form: dict[str, object] = {
        "code": "SAFE-1", "kind": "course", "title_ja": "データ可視化演習", "title_en": "Data visualisation",
        "track": "elective", "theme": "smart_solutions", "delivery_format": "online", "hours": "2.5",
        "fiscal_year": "2026", "target_grades": ["SHUNIN"], "prerequisites": "", "min_attendance": "100",
        "quiz_pass_mark": "70", "body_md": "## ねらい\r\n\r\nグラフで伝える。", "electives_required": "0",
        "change_note": "",
    }
    form.update(changes)
    return form


@pytest.mark.parametrize("field, value", [
    ("title_ja", "データ\u202e演習"), ("title_ja", "データ\x00演習"), ("title_en", "Data\r\nBcc: x@example.com"),
    ("code", "SAFE-1\n"), ("body_md", "## ねらい\n\x00"), ("body_md", "\u202dグラフ"),
])
def test_a_course_with_a_refused_character_is_a_field_error(app, client, hr, field, value):
    factories.login_as(client, hr)
    response = factories.post(client, "/catalog/design/new", course_form(**{field: value}),
                              form_page="/catalog/design/new")
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert client.get("/catalog/design/SAFE-1/edit").status_code == 404


def test_the_same_course_without_them_is_created(app, client, hr):
    factories.login_as(client, hr)
    response = factories.post(client, "/catalog/design/new", course_form(), form_page="/catalog/design/new")
    assert response.status_code == 302


def session_form(**changes: str) -> dict[str, str]:
    day = (now() + timedelta(days=30)).astimezone(TOKYO)
    form = {
        "label": "第1回（津会場）", "meetings": f"{day:%Y-%m-%d} 13:30-17:00\r\n", "location": "県庁 5階 501会議室",
        "online_url": "", "capacity": "30", "approval_policy": "none", "instructors": "", "notes": "持ち物：筆記用具",
        "enrolment_opens_at": f"{now().astimezone(TOKYO):%Y-%m-%dT%H:%M}",
        "enrolment_closes_at": f"{day - timedelta(days=7):%Y-%m-%dT%H:%M}",
        "cancellation_deadline_at": f"{day - timedelta(days=3):%Y-%m-%dT%H:%M}",
    }
    form.update(changes)
    return form


@pytest.mark.parametrize("field, value", [
    ("label", "第1回\x00"), ("label", "第1回\u202e（津会場）"), ("location", "501会議室\r\nX-Evil: 1"),
    ("notes", "持ち物\u2067：筆記用具"),
])
def test_a_session_with_a_refused_character_is_a_field_error(app, client, hr, field, value):
    with app.app_context():
        code = factories.course().code
    factories.login_as(client, hr)
    page = f"/sessions/course/{code}/new"
    response = factories.post(client, page, session_form(**{field: value}), form_page=page)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(TrainingSession)) == 0


def test_the_same_session_without_them_is_scheduled(app, client, hr):
    with app.app_context():
        code = factories.course().code
    factories.login_as(client, hr)
    page = f"/sessions/course/{code}/new"
    response = factories.post(client, page, session_form(), form_page=page)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
