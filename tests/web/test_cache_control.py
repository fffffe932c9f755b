"""Private responses are not stored by browsers or proxies (issue 14, finding 11): every response
to a signed-in browser and every download carries Cache-Control: no-store; static files and the
pages anonymous visitors see keep their caching, and the server-side page cache still serves.

The routes come from the permission matrix (tests/test_permission_matrix.py), which lists every
endpoint with a path that reaches it.
"""
from __future__ import annotations

import pytest
from flask import Response

from app.org.models import RoleName
from app.web.headers import is_private
from tests import factories
from tests.test_permission_matrix import ACCESS, people  # noqa: F401  (the fixture the paths need)

GET_ROUTES = sorted(endpoint for endpoint, (method, _path, _roles) in ACCESS.items() if method == "GET")


def _signed_in(app, login: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login(client, login)
    return client


@pytest.mark.parametrize("role", ["employee", "manager", "hr", "admin"])
def test_every_page_to_a_signed_in_user_has_no_store(app, people, role):  # noqa: F811
    client = _signed_in(app, people[role][1])
    missing = []
    for endpoint in GET_ROUTES:
        path = ACCESS[endpoint][1].format(**{name: value[0] for name, value in people.items()})
        response = client.get(path)
        if response.headers.get("Cache-Control") != "no-store":
            missing.append((endpoint, response.status_code, response.headers.get("Cache-Control")))
    assert missing == []


def test_a_page_from_the_server_side_cache_has_no_store_too(app, people):  # noqa: F811
    client = _signed_in(app, people["employee"][1])
    first, second = client.get("/catalog/"), client.get("/catalog/")
    assert first.status_code == second.status_code == 200
    assert first.headers["Cache-Control"] == second.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/team/export.csv", "/team/export.xlsx"])
def test_the_managers_exports_have_no_store(app, people, path):  # noqa: F811
    response = _signed_in(app, people["manager"][1]).get(path)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/reports/export/enrolments.csv", "/reports/export/enrolments.xlsx",
                                  "/reports/half-year.xlsx", "/staff/{other}/transcript.csv",
                                  "/enrolments/{enrolment}/calendar.ics", "/catalog/design/{course}/export"])
def test_hr_exports_and_downloads_have_no_store(app, people, path):  # noqa: F811
    client = _signed_in(app, people["hr"][1])
    response = client.get(path.format(**{name: value[0] for name, value in people.items()}))
    assert response.status_code == 200, path
    assert response.headers["Cache-Control"] == "no-store"


def test_a_certificate_and_its_pdf_have_no_store(app):
    from datetime import date
    from decimal import Decimal

    from app.completion.services import record_manual_completion
    from app.core.db import db_session

    with app.app_context():
        member = factories.employee()
        hr = factories.employee(roles=(RoleName.HR,))
        code = record_manual_completion(hr, member, factories.course(), date(2020, 6, 1), Decimal("2"),
                                        "外部研修").certificate_code
        db_session.commit()
    client = app.test_client()
    factories.login_as(client, member)
    for path in (f"/certificates/{code}", f"/certificates/{code}.pdf"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
    # the public check of the same certificate may be cached (nothing private on it)
    anonymous = app.test_client().get(f"/verify/{code}")
    assert anonymous.status_code == 200 and "no-store" not in anonymous.headers.get("Cache-Control", "")


def test_any_attachment_is_private_whoever_asks(app):
    with app.test_request_context("/anything"):
        assert is_private(Response(b"a,b", headers={"Content-Disposition": 'attachment; filename="x.csv"'}))
        assert not is_private(Response(b"<p>hello</p>"))


def test_static_files_and_anonymous_public_pages_keep_their_caching(app, people):  # noqa: F811
    signed_in = _signed_in(app, people["employee"][1])
    with signed_in.get("/static/app.css") as static:  # a file response: closed after use
        assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    anonymous = app.test_client()
    for path in ("/login", "/verify", "/static/app.css"):
        with anonymous.get(path) as response:
            assert response.status_code == 200, path
            assert "no-store" not in response.headers.get("Cache-Control", ""), path
