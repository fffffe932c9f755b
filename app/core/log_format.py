"""Logs an operator can search: one JSON object per line on stderr for everything under the `app`
logger (requests, job runs, outbox changes), with the fields a record carries in `extra={"fields": …}`.

Personal free text never goes into a field: ids, states, counts and durations only."""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

APP_LOGGER = "app"


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


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
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
