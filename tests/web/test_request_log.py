"""One JSON line per request for the operator, with the request id the person sees on an error page."""
from __future__ import annotations

import json
import logging

import pytest

from app.core.log_format import JsonLineFormatter
from tests import factories


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(JsonLineFormatter().format(record)) for record in caplog.records
            if record.name == "app.web.request_log"]


def test_each_request_logs_one_json_line_with_user_status_duration_and_sql_count(app, client, caplog):
    with app.app_context():
        person = factories.employee()
        person_id = person.id
    factories.login_as(client, person)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="app"):
        response = client.get("/catalog/")
    (line,) = request_lines(caplog)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert (line["user_id"], line["method"], line["endpoint"], line["status"]) == (person_id, "GET",
                                                                                 "catalog.index", 200)
    assert isinstance(line["sql_count"], int) and line["sql_count"] >= 1
    assert isinstance(line["duration_ms"], float) and line["level"] == "info" and line["time"]


def test_the_error_page_shows_the_request_id_of_its_log_line(client, caplog):
    with caplog.at_level(logging.INFO, logger="app"):
        response = client.get("/no-such-page", headers={"Accept-Language": "ja"})
    (line,) = request_lines(caplog)
    assert response.status_code == 404 and line["status"] == 404 and line["user_id"] is None
    assert f"お問い合わせ番号: {line['request_id']}" in response.get_data(as_text=True)


@pytest.mark.parametrize("offered", ["0f8e2a7c-5b1d-4c3e-9a6f-2d4b8c1e7f90", "a" * 32])
def test_a_proxy_request_id_is_kept(client, offered):
    assert client.get("/login", headers={"X-Request-ID": offered}).headers["X-Request-ID"] == offered


@pytest.mark.parametrize("offered", ["short", "x" * 65, "evil\" injected=1", "日本語のリクエストID-0123456789"])
def test_a_client_cannot_put_text_of_its_choosing_in_the_log(client, offered):
    returned = client.get("/login", headers={"X-Request-ID": offered}).headers["X-Request-ID"]
    assert returned != offered and len(returned) == 32
