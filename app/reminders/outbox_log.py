"""The operator's log of the outbox: one line for every change of a notification's state, on the
`app.reminders.outbox` logger, rendered as JSON by app/core/log_format.py:

    {"logger": "app.reminders.outbox", "message": "outbox sent", "notification_id": 123, "kind": "…",
     "from": "sending", "to": "sent", "attempt": 1, …}

A change made row by row (queued, skipped, retry, failed, resend) is one line with
`notification_id`; a change made by one UPDATE of many rows (claimed, sent, reclaimed, released,
voided) is one line per up to MAX_IDS rows, with `count` and `notification_ids` (every id is
logged, and no statement is added to find them: the UPDATE returns them).

Ids, kinds, states, counts, the worker's name, the SMTP status code and the exception's class
only: never an address, a name, a subject, a body or a server's reply (which may echo the
address)."""
from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger("app.reminders.outbox")
MAX_IDS = 100  # ids on one line of a bulk change


def changed(event: str, notification_id: int, kind: str, before: str | None, after: str, attempt: int | None,
            *, level: int = logging.INFO, **fields: Any) -> None:
    """One notification moved from `before` (None: it is new) to `after`; `attempt` is its count of
    tries so far (None where the change does not know it)."""
    log.log(level, "outbox %s", event, extra={"fields": {
        "event": event, "notification_id": notification_id, "kind": kind, "from": before, "to": after,
        "attempt": attempt, **fields}})


def changed_many(event: str, rows: Iterable[Sequence[Any]], before: str | None, after: str, **fields: Any) -> None:
    """Rows (id, kind) that one statement moved from `before` to `after`: a line per MAX_IDS rows."""
    moved = sorted((int(row[0]), str(row[1])) for row in rows)
    for start in range(0, len(moved), MAX_IDS):
        part = moved[start:start + MAX_IDS]
        log.info("outbox %s", event, extra={"fields": {
            "event": event, "count": len(part), "notification_ids": [row_id for row_id, _kind in part],
            "kinds": sorted({kind for _row_id, kind in part}), "from": before, "to": after, **fields}})


def error_fields(error: BaseException) -> dict[str, Any]:
    """What a failed send says about itself in the log: the exception's class and the SMTP status
    code, not its text (a refusal's text carries the recipient's address)."""
    code = getattr(error, "smtp_code", None)
    if not isinstance(code, int) and isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [answer[0] for answer in error.recipients.values() if isinstance(answer, tuple) and answer]
        code = codes[0] if codes and isinstance(codes[0], int) else None
    return {"error": type(error).__name__, "smtp_code": code if isinstance(code, int) else None}
