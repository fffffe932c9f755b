"""/metrics for Prometheus: only with the configured bearer token; request latency by endpoint,
the outbox backlog, the scheduler lease and the database pool, read at scrape time."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families

from app.core.db import db_session
from app.core.scheduler import hold_lease
from app.reminders.models import DeliveryStatus
from app.reminders.services import queue
from tests import factories
from tests.querycount import count_statements

TOKEN = "a-long-random-scrape-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
PINNED = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)


@pytest.fixture
def token(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_without_a_configured_token_there_is_no_metrics_page(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_a_missing_or_wrong_token_is_refused(client, token):
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert b"manabi_" not in missing.data


def test_the_request_histogram_counts_requests_per_endpoint_and_status_class(client, token):
    key = ("manabi_http_request_duration_seconds_count", (("endpoint", "home.ping"), ("status_class", "2xx")))
    before = scrape(client).get(key, 0.0)
    client.get("/ping")
    client.get("/ping")
    client.get("/no-such-page")
    after = scrape(client)
    assert after[key] == before + 2
    assert after[("manabi_http_request_duration_seconds_count", (("endpoint", "none"), ("status_class", "4xx")))] >= 1
    assert not any("/ping" in value for _name, labels in after for _label, value in labels)  # never the raw path


def test_outbox_gauges_show_the_backlog_by_status_and_kind_and_the_oldest_due_age(app, client, token):
    with time_machine.travel(PINNED, tick=False), app.app_context():
        person = factories.employee()
        queue(person.id, "followup_todo", "metrics:1", due_at=PINNED - timedelta(minutes=10))
        queue(person.id, "followup_todo", "metrics:2", due_at=PINNED + timedelta(hours=1))  # not yet due
        failed = queue(person.id, "session_moved", "metrics:3", due_at=PINNED - timedelta(hours=5))
        retry = queue(person.id, "followup_todo", "metrics:4", due_at=PINNED - timedelta(hours=2))
        assert failed is not None and retry is not None
        failed.status = DeliveryStatus.FAILED
        retry.next_attempt_at = PINNED + timedelta(minutes=5)  # waiting out its back-off: not late
        db_session.commit()
    with time_machine.travel(PINNED, tick=False):
        values = scrape(client)
    assert values[("manabi_outbox_messages", (("kind", "followup_todo"), ("status", "pending")))] == 3
    assert values[("manabi_outbox_messages", (("kind", "session_moved"), ("status", "failed")))] == 1
    assert values[("manabi_outbox_failed_messages", ())] == 1
    assert values[("manabi_outbox_oldest_due_unsent_age_seconds", ())] == 600  # the failed one is not waiting


def test_an_empty_outbox_waits_for_nothing(client, token):
    assert scrape(client)[("manabi_outbox_oldest_due_unsent_age_seconds", ())] == 0


def test_the_scheduler_lease_holder_and_its_last_run_appear(app, client, token):
    with time_machine.travel(PINNED, tick=False):
        no_one = scrape(client)
        with app.app_context():
            assert hold_lease("host-a:4242", timedelta(seconds=app.config["SCHEDULER_LEASE_SECONDS"]), PINNED)
        values = scrape(client)
    assert no_one[("manabi_scheduler_lease_held", ())] == 0
    assert values[("manabi_scheduler_lease_held", ())] == 1
    assert values[("manabi_scheduler_lease_holder", (("holder", "host-a:4242"),))] == 1
    assert values[("manabi_scheduler_last_run_timestamp_seconds", ())] == PINNED.timestamp()
    with time_machine.travel(PINNED + timedelta(hours=1), tick=False):
        later = scrape(client)
    assert later[("manabi_scheduler_lease_held", ())] == 0  # expired: nobody runs the jobs
    assert not any(name == "manabi_scheduler_lease_holder" for name, _labels in later)


def test_the_database_pool_shows_its_size_and_the_connections_in_use(app, client, token):
    values = scrape(client)
    expected = 10 if app.config["DATABASE_URL"].startswith("postgresql") else 5  # SQLite file: SQLAlchemy's default
    assert values[("manabi_db_pool_size", ())] == expected
    assert values[("manabi_db_pool_checked_out", ())] >= 1  # the scrape's own connection


def test_a_scrape_sends_the_same_statements_however_many_messages_wait(app, client, token):
    def statements() -> int:
        with count_statements(app) as counter:
            assert client.get("/metrics", headers=AUTH).status_code == 200
        return counter.count

    with app.app_context():
        person = factories.employee()
        queue(person.id, "followup_todo", "metrics:few")
        db_session.commit()
    few = statements()
    with app.app_context():
        for n, kind in enumerate(("followup_todo", "session_moved", "session_cancelled") * 4):
            queue(person.id, kind, f"metrics:many:{n}")
        db_session.commit()
    assert statements() == few == 3  # the outbox aggregate, the lease row and the jobs' run rows


def test_with_a_multiprocess_directory_a_scrape_adds_up_every_workers_requests(tmp_path):
    """Gunicorn's workers are processes: each writes its counts to PROMETHEUS_MULTIPROC_DIR and the
    worker that answers the scrape reads them all."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = "from app.web.metrics import observe_request; observe_request('home.ping', 200, 0.02)"
    for _worker in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, cwd=ROOT)
    scraper = "import sys; from app.web.metrics import render; sys.stdout.write(render().decode())"
    text = subprocess.run([sys.executable, "-c", scraper], env=env, check=True, cwd=ROOT,
                          capture_output=True, text=True).stdout
    counts = [sample.value for family in text_string_to_metric_families(text) for sample in family.samples
              if sample.name == "manabi_http_request_duration_seconds_count"
              and sample.labels == {"endpoint": "home.ping", "status_class": "2xx"}]
    assert counts == [2]
