"""The administrator's operations page: how the scheduler and each of its jobs are doing (the
next run from the job's own trigger), the outbox's health, the background-job queue, the database
and its migration revision. Japanese by default; administrators only."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from app.core.db import db_session
from app.core.scheduler import hold_lease, record_job_run
from app.jobs.services import enqueue
from app.org.models import RoleName
from app.reminders.models import DeliveryStatus
from app.reminders.services import queue
from tests import factories
from tests.querycount import count_statements

PINNED = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)  # Wednesday 10:00 in Japan


def page(client) -> str:  # type: ignore[no-untyped-def]
    with time_machine.travel(PINNED, tick=False):
        response = client.get("/admin/operations")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def admin(app, client):  # type: ignore[no-untyped-def]
    with app.app_context():
        person = factories.employee(roles=(RoleName.ADMIN,))
    with time_machine.travel(PINNED, tick=False):  # signed in when the page is asked for
        factories.login_as(client, person)
    return person


@pytest.mark.parametrize("roles", [(), (RoleName.HR,)])
def test_only_administrators_see_the_page(app, client, roles):
    with app.app_context():
        person = factories.employee(roles=roles)
    factories.login_as(client, person)
    assert client.get("/admin/operations").status_code == 403
    assert "/admin/operations" not in client.get("/").get_data(as_text=True)


def test_the_administration_menu_links_the_page(client, admin):
    with time_machine.travel(PINNED, tick=False):
        assert 'href="/admin/operations"' in client.get("/").get_data(as_text=True)


def test_a_failed_job_shows_its_error_class_and_every_job_its_next_run(app, client, admin):
    with app.app_context():
        hold_lease("host-a:1", timedelta(seconds=app.config["SCHEDULER_LEASE_SECONDS"]), PINNED)
        record_job_run("deliver", "host-a:1", PINNED - timedelta(seconds=20), PINNED - timedelta(seconds=19),
                       None, 1200)
        record_job_run("scan", "host-a:1", PINNED - timedelta(minutes=5), PINNED - timedelta(minutes=4),
                       "OperationalError", 61000)
    html = page(client)
    assert "運用状況" in html and "host-a:1" in html
    scan = html[html.index("<code>scan</code>"):]
    scan = scan[:scan.index("</tr>")]
    assert "失敗" in scan and "OperationalError" in scan and "61.0 秒" in scan
    assert "2026年6月3日(水) 09:55" in scan  # its last run, Japan time
    assert "成功したことはありません" in scan
    assert "2026年6月3日(水) 10:55" in scan  # next: an hour after its last start
    assert "1時間ごと" in scan
    digest = html[html.index("<code>digest</code>"):]
    digest = digest[:digest.index("</tr>")]
    assert "まだ実行されていません" in digest
    assert "毎週月曜日 08:00" in digest and "2026年6月8日(月) 08:00" in digest  # next Monday morning
    retention = html[html.index("<code>retention</code>"):]
    assert "毎日 02:30" in retention[:retention.index("</tr>")]


def test_an_expired_lease_is_warned(app, client, admin):
    with app.app_context():
        hold_lease("host-a:1", timedelta(seconds=60), PINNED - timedelta(hours=1))
    html = page(client)
    assert "切れています" in html and "host-a:1" in html


def test_outbox_queue_database_and_revision_are_shown(app, client, admin):
    with app.app_context():
        person = factories.employee()
        queue(person.id, "followup_todo", "ops:1", due_at=PINNED - timedelta(minutes=30))
        failed = queue(person.id, "session_moved", "ops:2", due_at=PINNED - timedelta(hours=3))
        assert failed is not None
        failed.status, failed.claimed_at = DeliveryStatus.FAILED, PINNED - timedelta(hours=2)
        enqueue("staff_import", {}, created_by=None, at=PINNED)
        db_session.commit()
    html = page(client)
    assert "30 分待ち" in html  # the oldest message due and not yet sent
    failed_row = html[html.index("過去24時間の送信失敗"):]
    assert "<td>1</td>" in failed_row[:failed_row.index("</tr>")]
    assert "送信に失敗したメッセージを見る" not in html  # the outbox is HR's page
    queued = html[html.index("待機中"):]
    assert "<td>1</td>" in queued[:queued.index("</tr>")]
    backend = "PostgreSQL" if app.config["DATABASE_URL"].startswith("postgresql") else "SQLite"
    assert backend in html and " MB" in html
    assert "最新" in html and "flask db upgrade" not in html


def test_someone_both_hr_and_admin_gets_the_link_to_the_failed_messages(app, client):
    with app.app_context():
        person = factories.employee(roles=(RoleName.ADMIN, RoleName.HR))
        failed = queue(person.id, "session_moved", "ops:3", due_at=PINNED - timedelta(hours=3))
        assert failed is not None
        failed.status, failed.claimed_at = DeliveryStatus.FAILED, PINNED - timedelta(hours=1)
        db_session.commit()
    with time_machine.travel(PINNED, tick=False):
        factories.login_as(client, person)
    assert "/admin/outbox?status=failed" in page(client)


def test_the_page_sends_the_same_statements_however_many_runs_messages_and_jobs(app, client, admin):
    def statements() -> int:
        with count_statements(app) as counter:
            page(client)
        return counter.count

    few = statements()
    with app.app_context():
        person = factories.employee()
        for n in range(6):
            queue(person.id, ("followup_todo", "session_moved")[n % 2], f"ops:many:{n}",
                  due_at=PINNED - timedelta(minutes=n))
            enqueue("staff_import", {}, created_by=None, dedupe_key=f"ops:{n}", at=PINNED)
        for name in ("deliver", "scan", "digest", "jobs", "retention"):
            record_job_run(name, "host-a:1", PINNED, PINNED, None, 10)
        db_session.commit()
    assert statements() == few == 8  # who is signed in, then the page: see app/ops/operations.py
