"""The OpenAPI document is the contract: Schemathesis generates requests from it (bounded and
deterministic) and checks every answer: no 5xx, every status, header and body as documented,
invalid input refused, a missing token refused."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app
from config import TestConfig
from tests import factories
from tests.api.conftest import bearer, make_token


@dataclass
class World:
    secret: str


@pytest.fixture
def api_world(app, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_PER_MINUTE", 100_000)  # the limit has its own test
    with app.app_context():
        person = factories.employee()
        for _ in range(3):
            course = factories.course()
            factories.enrolment(person, factories.training_session(course, capacity=2))
            factories.training_session(course, capacity=1)
        return World(make_token(person))


# The document is read once, at collection, from an app of its own (serving it needs no database;
# schemathesis' lazy `from_fixture` does not run under pytest 9); every call goes to the test's
# `app`, inside its rolled-back transaction.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app(TestConfig()))
# A missing If-Match is "428 Precondition Required" (RFC 6585), as documented: one more answer that
# rejects a missing required header, beside schemathesis' 400/401/403/406/415/422.
_missing_header = schema.config.checks.missing_required_header
_missing_header.expected_statuses = [*_missing_header.expected_statuses, "428"]


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_api_keeps_its_contract(app, case, api_world):  # type: ignore[no-untyped-def]
    _as_a_client_would(case)
    case.call_and_validate(app=app, headers=bearer(api_world.secret))


_keys = itertools.count(1)


def _as_a_client_would(case) -> None:  # type: ignore[no-untyped-def]
    """What a document cannot say, sent as a real client sends it: no cursor (only the API makes
    them: a made-up one is a 422, tests/api/test_behaviour.py follows real ones), a fresh
    Idempotency-Key per request (one key reused with another request is a 422 by design), and
    If-Match "*" (a made-up ETag is a 412; the 412 and 428 have their own tests)."""
    if case.query:
        case.query.pop("cursor", None)
    if case.headers:
        if "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = f"{next(_keys)}-{case.headers['Idempotency-Key']}"[:200]
        if "If-Match" in case.headers:
            case.headers["If-Match"] = "*"


def test_the_document_is_openapi_3_1_with_bearer_tokens_and_problems(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http" and schemes["bearerAuth"]["scheme"] == "bearer"
    flow = schemes["clientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/api/v1/oauth/token" and set(flow["scopes"]) == {"read", "staff"}
    operations = {(method.upper(), path): op for path, item in document["paths"].items()
                  for method, op in item.items() if "responses" in op}
    routes = {(method, rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}"))
              for rule in app.url_map.iter_rules() if getattr(app.view_functions[rule.endpoint], "_access", "")
              .startswith("api:") for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert set(operations) == routes  # every API route is documented, and nothing else
    for (method, path), operation in operations.items():
        scope = operation["security"][0]["bearerAuth"]
        assert scope in (["read"], ["enrol"], ["approve"], ["attend"], ["staff"]), (method, path)
        person_only = path.startswith(("/api/v1/me/", "/api/v1/approvals", "/api/v1/meetings")) \
            or (path.endswith("/enrolments") and method == "POST")
        # a system account's token is offered exactly where the endpoint does not act for a person
        assert (len(operation["security"]) == 2) == (not person_only), (method, path)
        assert {"401", "403", "429", "default"} <= set(operation["responses"])
    problem = document["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(problem) == ["application/problem+json"]


def test_the_reference_page_lists_every_path_with_nothing_from_elsewhere(client):
    page = client.get("/api/v1/docs")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for path in ("/api/v1/courses", "/api/v1/sessions/{session_id}/enrolments", "/api/v1/me/enrolments/{enrolment_id}"):
        assert path in text
    assert "Idempotency-Key" in text and "If-Match" in text and 'id="problem-412"' in text
    assert "<script" not in text.split("</header>", 1)[1] and " style=" not in text
    assert "http://" not in text.replace("http://localhost", "") and "https://" not in text
