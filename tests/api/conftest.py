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
