"""Counting failed attempts per key in a time window, in the database (shared by every worker).
Sign-in has its own policy in app/auth/services.py; check-in codes use this."""
from __future__ import annotations

from datetime import timedelta

from app.auth.models import LoginThrottle
from app.core.clock import now
from app.core.db import db_session


def remaining_lock(key: str, limit: int, window: timedelta) -> timedelta | None:
    row = db_session.get(LoginThrottle, key)
    if row is None or row.failures < limit:
        return None
    remaining = row.window_started_at + window - now()
    return remaining if remaining > timedelta(0) else None


def count_failure(key: str, window: timedelta, limit: int) -> None:
    """Count one failure. The failure that reaches `limit` restarts the window, so the lock lasts a
    whole window from then (not only what was left of the window the first failure opened)."""
    row = db_session.get(LoginThrottle, key)
    current = now()
    if row is None:
        db_session.add(LoginThrottle(key=key, failures=1, window_started_at=current))
    elif row.window_started_at + window <= current:
        row.failures, row.window_started_at = 1, current
    else:
        row.failures += 1
        if row.failures == limit:
            row.window_started_at = current
    db_session.flush()
