"""HR's record of training done elsewhere, through CompletionRecordForm (app/completion/forms.py):
a bad date, a bad number of hours or unsafe text is a 400 whose message names the field, next to
it (label + message, aria-invalid, aria-describedby), and records nothing; what was typed is shown
again."""
from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.completion.models import Completion
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories

PAGE = "/completions/record"
LABELS = {"employee_number": "職員番号", "course_code": "研修コード", "completed_on": "修了日", "hours": "時間数",
          "evidence_note": "根拠"}


@pytest.fixture
def hr(app, client):  # type: ignore[no-untyped-def]
    with app.app_context():
        factories.employee(factories.unit("記録課"), "SHUNIN", name="記録 花子", number="R77001")
        factories.course("REC-9", title_ja="外部の研修")
        person = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
    factories.login_as(client, person)
    return client


def _form(**changes: str) -> dict[str, str]:
    values = {"employee_number": "R77001", "course_code": "REC-9", "completed_on": "2021-03-15", "hours": "6",
              "evidence_note": "修了証 第45号"}
    values.update(changes)
    return values


def _recorded(app) -> list[Completion]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(db_session.scalars(select(Completion).where(Completion.course.has(code="REC-9"))))


def _error_of(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error shown for {field}"
    return html.unescape(match.group(1))


@pytest.mark.parametrize(("field", "value", "why"), [
    ("completed_on", "2021-02-30", "日付を入力してください。"),
    ("completed_on", "昨日", "日付を入力してください。"),
    ("completed_on", "", "日付を入力してください。"),
    ("hours", "-1", "時間数は0〜9999で入力してください。"),
    ("hours", "10000", "時間数は0〜9999で入力してください。"),
    ("hours", "NaN", "時間数は0〜9999で入力してください。"),
    ("hours", "sNaN", "時間数は0〜9999で入力してください。"),
    ("hours", "Infinity", "時間数は0〜9999で入力してください。"),
    ("hours", "1e3", "時間数は0〜9999で入力してください。"),
    ("hours", "2.555", "時間数は小数点以下2桁までで入力してください。"),
    ("evidence_note", "修了証\x00", "制御文字は使えません（U+0000 が含まれています）"),
    ("evidence_note", "修了証\u202e54第", "文字の向きを変える制御文字は使えません（U+202E が含まれています）"),
    ("evidence_note", "あ" * 5001, "5000文字以内で入力してください（5001文字あります）。"),
    ("employee_number", "R77001\x1b", "制御文字は使えません（U+001B が含まれています）"),
    ("employee_number", "R" * 33, "32文字以内で入力してください（33文字あります）。"),
    ("employee_number", "", "この職員番号の職員はいません。"),
    ("course_code", "REC\u2028-9", "改行"),
    ("course_code", "", "このコードの研修はありません。"),
])
def test_a_bad_value_is_a_400_naming_the_field_and_records_nothing(app, hr, field, value, why):
    response = factories.post(hr, PAGE, _form(**{field: value}), form_page=PAGE)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "下の印の付いた項目を修正してください。" in page
    error = _error_of(page, field)
    assert error.startswith(f"{LABELS[field]}: ") and why in error, error
    assert f'aria-describedby="{field}-error"' in page and 'aria-invalid="true"' in page
    assert [f for f in LABELS if f'id="{f}-error"' in page] == [field]  # only that field is marked
    assert _recorded(app) == []
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "completion.recorded")) == 0


def test_what_was_typed_is_shown_again(app, hr):
    response = factories.post(hr, PAGE, _form(hours="abc", evidence_note="（一財）研修協会\r\n第45号"), form_page=PAGE)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'value="R77001"' in page and 'value="REC-9"' in page and 'value="2021-03-15"' in page
    assert ">\r\n（一財）研修協会\r\n第45号</textarea>" in page


@pytest.mark.parametrize(("typed", "stored"), [
    ("", Decimal(0)), ("７．５", Decimal("7.5")), (" 12.25 ", Decimal("12.25")), ("9999", Decimal(9999))])
def test_hours_as_people_type_them(app, hr, typed, stored):
    response = factories.post(hr, PAGE, _form(hours=typed, evidence_note="  修了証 第45号  "), form_page=PAGE)
    assert response.status_code == 302
    (completion,) = _recorded(app)
    assert (completion.hours, completion.completed_on) == (stored, date(2021, 3, 15))
    assert completion.evidence_note == "修了証 第45号"  # trimmed, as before


def test_the_page_renders_labelled_fields(app, hr):
    page = hr.get(PAGE).get_data(as_text=True)
    for field, label in LABELS.items():
        assert f'<label for="{field}">{label}</label>' in page
    assert 'type="date"' in page and 'name="hours"' in page and 'aria-invalid' not in page
