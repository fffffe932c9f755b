"""Rotating check-in codes: six digits from an HMAC of (meeting, minute), so a code is only good
for its meeting and for about a minute (the previous minute is accepted too, for slow typists)."""
from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime

PERIOD_SECONDS = 60


def _code(secret: str, meeting_id: int, step: int) -> str:
    digest = hmac.new(secret.encode(), f"checkin:{meeting_id}:{step}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:4], 'big') % 1_000_000:06d}"


def current_code(secret: str, meeting_id: int, at: datetime) -> tuple[str, int]:
    """The code to show now and the seconds until it changes."""
    step, offset = divmod(int(at.timestamp()), PERIOD_SECONDS)
    return _code(secret, meeting_id, step), PERIOD_SECONDS - offset


def code_is_valid(secret: str, meeting_id: int, code: str, at: datetime) -> bool:
    step = int(at.timestamp()) // PERIOD_SECONDS
    # Full-width digits (a Japanese input method) count; other non-ASCII digits, which isdigit()
    # would keep and compare_digest refuses (TypeError), do not.
    cleaned = "".join(ch for ch in unicodedata.normalize("NFKC", code) if ch in "0123456789")
    return any(hmac.compare_digest(cleaned, _code(secret, meeting_id, s)) for s in (step, step - 1))
