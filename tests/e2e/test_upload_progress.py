"""A fieldwork upload shows its progress: a participant attaches a file of a few megabytes to the
plan and submits; the progress bar and its status line (role="status") follow the upload to
"done" while the server's answer is on its way, then the answer replaces the page. The answers
are held at the browser (Chromium's Fetch domain, paused at the response stage: the upload has
been sent in full by then) until the test has seen "done", so nothing here depends on how fast
the upload goes. Without JavaScript the same form posts normally (tests/cohorts/test_fieldwork.py
submits it so).

The cohort, its participant (an account of this test) and the team are made directly in the
live server's database."""
from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.cohorts import services
from app.cohorts.models import Decision
from app.core.db import db_session
from app.org.models import Employee, RoleName
from tests import factories
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import either, sign_out_button, whole

pytestmark = pytest.mark.browser

FILE = b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024) + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"  # 3 MB


def a_participant(live_server: LiveServer) -> tuple[str, int]:
    """(login, cohort id): a selected participant in a team, with the plan still to submit."""
    suffix = uuid.uuid4().hex[:6].upper()
    with live_server.app.app_context():
        hr = db_session.scalar(select(Employee).where(Employee.employee_number == live_server.login_for("HR")))
        assert hr is not None
        cohort = factories.cohort(quota=2, requires_endorsement=False)
        division = factories.unit(f"アップロード課{suffix}")
        person = factories.employee(division, "SHUNIN", name=f"提出 花子{suffix}")
        mentor = factories.employee(factories.unit(f"外部{suffix}"), "KACHO", roles=(RoleName.MENTOR,))
        application = services.apply(person, cohort, "データで業務を改善したい", "smart_government", ["窓口の待ち時間"])
        services.decide(hr, application, Decision.SELECTED)
        services.form_team(hr, cohort, f"チーム{suffix}", division, "smart_government", "窓口の待ち時間",
                           [person], [mentor])
        db_session.commit()
        return person.employee_number, cohort.id


def test_a_fieldwork_upload_shows_its_progress_until_done(page: Page, live_server: LiveServer) -> None:
    login, cohort_id = a_participant(live_server)
    page.goto("/login")
    page.get_by_label(either("職員番号またはメールアドレス", "Employee number or e-mail")).fill(login)
    page.get_by_label(whole("パスワード", "Password")).fill(factories.PASSWORD)
    page.locator("main").get_by_role("button", name=whole("ログイン", "Sign in")).click()
    expect(sign_out_button(page)).to_be_visible()
    page.goto(f"/cohorts/{cohort_id}/work")
    plan = page.locator("main section.panel").first
    expect(plan.get_by_role("heading", level=2)).to_contain_text(either("フィールドワーク計画", "Fieldwork plan"))
    bar = plan.get_by_role("progressbar")
    status = plan.get_by_role("status")
    expect(bar).to_be_hidden()
    expect(status).to_have_text("")
    plan.get_by_label(either("ファイル", "Files")).set_input_files(
        files=[{"name": "plan.pdf", "mimeType": "application/pdf", "buffer": FILE}])

    cdp = page.context.new_cdp_session(page)
    held: list[str] = []  # answers paused until the test has looked
    released: list[bool] = []

    def hold(event: dict[str, Any]) -> None:
        if released:
            cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
        else:
            held.append(event["requestId"])

    cdp.on("Fetch.requestPaused", hold)
    cdp.send("Fetch.enable", {"patterns": [{"urlPattern": f"*/cohorts/{cohort_id}/work", "requestStage": "Response"}]})
    plan.get_by_role("button", name=whole("提出する", "Submit")).click()
    expect(status).to_have_text(either("アップロードしました。提出を保存しています…",
                                       "Uploaded. Saving your submission…"))
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("value", "100")
    expect(plan.get_by_role("button", name=whole("提出する", "Submit"))).to_be_disabled()  # no second post
    released.append(True)
    for request_id in held:
        cdp.send("Fetch.continueRequest", {"requestId": request_id})

    expect(page.locator(".flash--success")).to_have_text(either(
        "提出しました。メンターに確認を依頼しました。", "Submitted. Your mentor is asked to review it."))
    expect(page).to_have_url(re.compile(rf"/cohorts/{cohort_id}/work$"))
    version = page.locator("main section.panel").first.get_by_role("link", name=either("第1版", "Version 1"))
    expect(version).to_be_visible()
    cdp.send("Fetch.disable")
