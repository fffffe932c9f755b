"""Helpers for the API tests: tokens made through the service the account page uses."""
from __future__ import annotations

from datetime import timedelta

from app.api.tokens import create_token
from app.core.clock import today
from app.core.db import db_session
from app.org.models import Employee


def make_token(person: Employee, scopes: tuple[str, ...] = ("read", "enrol"), *, days: int = 30) -> str:
    """A live token of `person` (committed); returns the secret."""
    made = create_token(person, "テスト用", list(scopes), today() + timedelta(days=days))
    db_session.commit()
    return made.secret


def bearer(secret: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **headers}


def make_client(role: str = "personnel_system", scopes: tuple[str, ...] = ("read", "staff"),
                name: str = "人事給与システム") -> tuple[str, str]:
    """A registered system account (committed): (client_id, client_secret)."""
    from app.api.clients import create_client

    made = create_client(None, name, role, list(scopes))
    db_session.commit()
    return made.client.client_id, made.secret


def client_token(http, client_id: str, secret: str, scope: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """An access token from the token endpoint (client credentials, HTTP Basic)."""
    import base64

    form = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    answer = http.post("/api/v1/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_json()["access_token"])
