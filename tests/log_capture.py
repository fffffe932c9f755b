"""The suite's log, searched for what must never be logged (issue 20).

The apps under test log nowhere (LOG_FORMAT=off), so for the length of the session a handler on
the root logger writes every record that reaches it at INFO and above (all of the `app` loggers'
records, which propagate; other libraries' warnings) as the production JSON line
(app/core/log_format.py) to test-artifacts/logs/<backend>-<pid>.jsonl. What the suite's own
processes print (gunicorn, the scheduler, `flask reminders deliver-due`) is added with
`append_output`. At the end of the session (tests/conftest.py) the file is searched for the
demo's and the tests' passwords, e-mail addresses and the secrets the tests configure; any
match fails the run with the file, line and the line itself (shortened). A clean file is
removed; one with findings is kept for reading."""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from app.core.log_format import JsonLineFormatter

LOG_DIR = Path(__file__).resolve().parent.parent / "test-artifacts" / "logs"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Secrets the suite configures (config.TestConfig and the tests that set their own); passwords are
# added from where they are defined (see `forbidden_values`).
TEST_SECRETS = ("deploy-test-" + "x" * 40, "x" * 40, "deploy-test-metrics-token", "a-long-random-scrape-token")

_handler: logging.FileHandler | None = None


def install(backend: str) -> Path:
    """Start writing the root logger's records (INFO and above) to this session's file."""
    global _handler
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / f"{backend}-{os.getpid()}.jsonl"
    path.unlink(missing_ok=True)
    _handler = logging.FileHandler(path, mode="a", encoding="utf-8")  # appends: forked senders share it
    _handler.setLevel(logging.INFO)
    _handler.setFormatter(JsonLineFormatter())
    logging.getLogger().addHandler(_handler)
    return path


def uninstall() -> Path | None:
    global _handler
    if _handler is None:
        return None
    handler, _handler = _handler, None
    logging.getLogger().removeHandler(handler)
    handler.close()
    return Path(handler.baseFilename)


def append_output(source: str, text: str) -> None:
    """Add what a process the suite started wrote (its log lines, as they are) to the capture."""
    if _handler is None or not text:
        return
    with open(_handler.baseFilename, "a", encoding="utf-8") as capture:
        for line in text.splitlines():
            capture.write(json.dumps({"source": source, "output": line}, ensure_ascii=False) + "\n")


def forbidden_values() -> dict[str, str]:
    """What no log line may contain, by what it is."""
    from app.demo.organisation import DEMO_PASSWORD
    from config import TestConfig
    from tests.factories import PASSWORD

    values = {DEMO_PASSWORD: "the demo password", PASSWORD: "the tests' password",
              str(TestConfig.SECRET_KEY): "the tests' SECRET_KEY"}
    values.update(dict.fromkeys(TEST_SECRETS, "a secret the tests configure"))
    return values


@dataclass(frozen=True)
class Finding:
    line_number: int
    what: str
    line: str

    def __str__(self) -> str:
        shown = self.line if len(self.line) <= 300 else self.line[:300] + "…"
        return f"line {self.line_number}: {self.what}: {shown}"


def scan(path: Path) -> list[Finding]:
    values = forbidden_values()
    findings = []
    with open(path, encoding="utf-8", errors="replace") as capture:
        for number, line in enumerate(capture, start=1):
            text = line.rstrip("\n")  # written with ensure_ascii=False: what is searched for is not escaped
            found = [what for value, what in values.items() if value in text]
            address = EMAIL.search(text)
            if address:
                found.append(f"an e-mail address ({address.group(0)})")
            findings.extend(Finding(number, what, text) for what in found)
    return findings
