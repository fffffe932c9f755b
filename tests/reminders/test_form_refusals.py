"""The notification pages' POSTs go through forms: a kind that is not one of the boxes the page
shows, a bad offset, an unknown button or a lone brace in the wording is a 400 with the error
next to the field (named by its label, linked by aria-describedby), and nothing is written."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.core.db import db_session
from app.org.models import RoleName
from app.reminders.kinds import KINDS
from app.reminders.models import KindSetting, MessageTemplate, OptOut
from tests import factories

PREFERENCES = "/account/notifications"
SETTINGS = "/admin/outbox/settings"
TEMPLATE = "/admin/outbox/templates/enrolment_confirmed/ja"
OPTIONAL = sorted(code for code, kind in KINDS.items() if not kind.mandatory)


@pytest.fixture
def person(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee()


@pytest.fixture
def hr(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee(roles=(RoleName.HR,))


def opt_outs(app, person) -> set[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return set(db_session.scalars(select(OptOut.kind).where(OptOut.employee_id == person.id)))


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.scalar(select(func.count()).select_from(model))


def assert_field_error(html: str, field_id: str, label: str, message: str) -> None:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', html)
    assert match, f"no error for {field_id}"
    assert match.group(1).startswith(f"{label}: ") and message in match.group(1)
    assert f'aria-invalid="true" aria-describedby="{field_id}-error"' in html


def ticked(html: str, name: str) -> set[str]:
    """The values of the boxes called `name` that the page shows ticked."""
    return set(re.findall(rf'<input type="checkbox" id="[^"]+" name="{name}" value="([^"]+)" checked', html))


def test_a_person_turns_optional_notifications_off_and_on(app, client, person):
    factories.login_as(client, person)
    kept = [code for code in OPTIONAL if code != "session_reminder"]
    response = factories.post(client, PREFERENCES, {"kind": kept}, form_page=PREFERENCES)
    assert response.status_code == 302
    assert opt_outs(app, person) == {"session_reminder"}
    assert ticked(client.get(PREFERENCES).get_data(as_text=True), "kind") == set(kept)
    assert factories.post(client, PREFERENCES, {"kind": OPTIONAL}, form_page=PREFERENCES).status_code == 302
    assert opt_outs(app, person) == set()


@pytest.mark.parametrize("refused", ["no_such_kind", "enrolment_confirmed"])  # unknown; mandatory (not a box)
def test_a_kind_that_is_not_a_box_on_the_page_changes_nothing(app, client, person, refused):
    factories.login_as(client, person)
    assert factories.post(client, PREFERENCES, {"kind": ["session_reminder"]}, form_page=PREFERENCES).status_code == 302
    before = opt_outs(app, person)
    response = factories.post(client, PREFERENCES, {"kind": [refused]}, form_page=PREFERENCES)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert_field_error(html, "kind", "任意の通知（メールとアプリ内）", "表示されている通知の中から選んでください。")
    assert 'value="no_such_kind"' not in html
    assert opt_outs(app, person) == before  # the other boxes were not read as unticked


def test_hr_switches_kinds_off_and_on(app, client, hr):
    factories.login_as(client, hr)
    enabled = [code for code in KINDS if code != "manager_digest"]
    response = factories.post(client, SETTINGS, {"enabled": enabled, "offsets": "5、2"}, form_page=SETTINGS)
    assert response.status_code == 302
    with app.app_context():
        states = {s.kind: (s.is_enabled, s.offsets) for s in db_session.scalars(select(KindSetting))}
    assert states["manager_digest"][0] is False and states["session_reminder"] == (True, [5, 2])
    assert all(states[code][0] for code in enabled)


@pytest.mark.parametrize("data, field_id, label, message", [
    ({"enabled": ["session_reminder", "no_such_kind"], "offsets": "3, 1"}, "enabled", "送信する通知の種類",
     "表示されている種類の中から選んでください。"),
    ({"enabled": ["session_reminder"], "offsets": "3, -1"}, "offsets", "研修前のリマインド（何営業日前か）",
     "0〜30の営業日数をカンマ区切りで入力してください。"),
    ({"enabled": ["session_reminder"], "offsets": "3, 31"}, "offsets", "研修前のリマインド（何営業日前か）",
     "0〜30の営業日数をカンマ区切りで入力してください。"),
])
def test_a_bad_setting_is_a_field_error_and_changes_nothing(app, client, hr, data, field_id, label, message):
    factories.login_as(client, hr)
    response = factories.post(client, SETTINGS, data, form_page=SETTINGS)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    if field_id == "offsets":  # the shared field macro: the message in a paragraph next to the input
        assert f'id="offsets-error">{label}: {message}</p>' in html and 'aria-invalid="true"' in html
    else:
        assert_field_error(html, field_id, label, message)
    assert ticked(html, "enabled") == {"session_reminder"}  # the boxes as sent, not as stored
    assert count(app, KindSetting) == 0


@pytest.mark.parametrize("data, field_id, label, message", [
    ({"subject": "確定：{course}", "body": "{name} 様", "action": "delete"}, "action", "操作",
     "このページのボタンではありません。"),
    ({"subject": "確定：{course}", "body": "{name} 様 {", "action": "save"}, "body", "本文",
     "{name} のように差し込み項目を囲む"),
    ({"subject": "確定：{course", "body": "{name} 様", "action": "preview"}, "subject", "件名",
     "{name} のように差し込み項目を囲む"),
])
def test_a_bad_template_post_is_a_field_error_and_changes_nothing(app, client, hr, data, field_id, label, message):
    factories.login_as(client, hr)
    response = factories.post(client, TEMPLATE, data, form_page=TEMPLATE)
    assert response.status_code == 400  # a lone brace was a 500
    html = response.get_data(as_text=True)
    assert f'id="{field_id}-error">' in html and f"{label}: " in html and message in html
    assert 'aria-invalid="true"' in html and 'id="preview-heading"' not in html
    assert count(app, MessageTemplate) == 0


def test_reset_still_needs_no_known_action_beyond_the_button(app, client, hr):
    factories.login_as(client, hr)
    data = {"subject": "【研修】確定：{course}", "body": "{name} 様\n確定です。"}
    assert factories.post(client, TEMPLATE, data, form_page=TEMPLATE).status_code == 302  # no button: save
    assert count(app, MessageTemplate) == 1
    response = factories.post(client, TEMPLATE, {**data, "action": "reset"}, form_page=TEMPLATE)
    assert response.status_code == 302 and response.headers["Location"].endswith(TEMPLATE)
    assert count(app, MessageTemplate) == 0
