"""Logs an operator can search: one JSON object per line on stderr for everything under the `app`
logger (requests, job runs, outbox changes), with the fields a record carries in `extra={"fields": …}`.

Personal free text never goes into a field: ids, states, counts and durations only. The message and
an exception's text may carry text the app does not control (a mail server's reply, an error that
quotes its input): e-mail addresses in them are written as "[address]"."""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

APP_LOGGER = "app"
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ADDRESS_REDACTED = "[address]"


def redact_addresses(text: str) -> str:
    return _ADDRESS.sub(ADDRESS_REDACTED, text) if "@" in text else text


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_addresses(record.getMessage()),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = redact_addresses(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLineFormatter(logging.Formatter):
    """LOG_FORMAT=text: the message (and an exception's text) with the same addresses left out."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_addresses(super().format(record))


def configure_logging(log_format: str) -> None:
    """Idempotent: a second app in the same process (tests, the CLI) adds no second handler.
    `json` (production default) or `text`; `off` leaves records to whoever captures them (tests)."""
    logger = logging.getLogger(APP_LOGGER)
    logger.setLevel(logging.INFO)
    if log_format == "off" or any(getattr(handler, "_manabi", False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._manabi = True  # type: ignore[attr-defined]  # marks our own handler for idempotence
    handler.setFormatter(JsonLineFormatter() if log_format == "json"
                         else TextLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
