from __future__ import annotations

from tests import factories


def test_healthz_reports_database_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_reports_unavailable_database_as_503(app, client):
    from sqlalchemy import create_engine

    original = app.extensions["manabi.bind"]
    broken = create_engine("sqlite:////nonexistent-dir/none.sqlite3")
    app.extensions["manabi.bind"] = broken
    try:
        response = client.get("/healthz")
    finally:
        app.extensions["manabi.bind"] = original
        broken.dispose()
    assert response.status_code == 503
    assert response.json["database"] == "unavailable"


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_load_nothing_from_another_host(app, client):
    with app.app_context():
        person = factories.employee()
    factories.login_as(client, person)
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html


def test_home_requires_sign_in_and_redirects_back(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/")


def test_unknown_page_is_a_friendly_404_in_japanese(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.get_data(as_text=True)


def test_oversized_request_is_refused_with_413(app, client):
    token = factories.csrf_token(client)
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = client.post("/login", data={"csrf_token": token, "login": big.decode()})
    assert response.status_code == 413
