"""The designer's small POSTs go through forms: the Markdown preview refuses (400, by field) a body
that saving would refuse; retiring needs its box ticked with the value the page sends."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.catalog.forms import BODY_MAX
from app.catalog.models import Course, CourseStatus
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories

PREVIEW = "/catalog/design/preview"


@pytest.fixture
def hr(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee(roles=(RoleName.HR,))


def test_a_preview_of_the_longest_body_is_rendered(app, client, hr):
    factories.login_as(client, hr)
    response = factories.post(client, PREVIEW, {"body_md": "あ" * BODY_MAX}, form_page="/catalog/design/new")
    assert response.status_code == 200 and "あ" * BODY_MAX in response.json["html"]


@pytest.mark.parametrize("body, message", [
    ("あ" * (BODY_MAX + 1), "50000文字以内で入力してください。"),
    ("## 概要\n\x00", "制御文字"),
    ("\u202eグラフ", "U+202E"),
])
def test_a_preview_of_a_body_that_saving_would_refuse_is_refused_by_field(app, client, hr, body, message):
    factories.login_as(client, hr)
    response = factories.post(client, PREVIEW, {"body_md": body}, form_page="/catalog/design/new")
    assert response.status_code == 400
    assert "html" not in response.json  # nothing rendered, not even the first 50,000 characters
    [error] = response.json["errors"]["body_md"]
    assert error.startswith("説明（Markdown）: ") and message in error


def test_retiring_with_a_made_up_confirmation_changes_nothing(app, client, hr):
    with app.app_context():
        factories.course("RET-2", title_ja="残る研修")
    factories.login_as(client, hr)
    response = factories.post(client, "/catalog/design/RET-2/retire", {"confirm": "y", "fingerprint": "0" * 32},
                              form_page="/catalog/courses/RET-2")
    assert response.status_code == 409  # not what any preview showed: the preview again, nothing retired
    assert "何も変更していません" in response.get_data(as_text=True)
    with app.app_context():
        course = db_session.scalar(select(Course).where(Course.code == "RET-2"))
        assert course.status == CourseStatus.PUBLISHED and course.retired_at is None
