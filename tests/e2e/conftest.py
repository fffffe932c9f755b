"""Browser tests: the real app served over HTTP on 127.0.0.1, driven by Debian's Chromium.

- `live_server` (session): its own freshly migrated database (SQLite or PostgreSQL, whatever
  MANABI_TEST_BACKEND says) with the demo prefecture, catalog and sessions loaded (as `flask demo
  load` does), served by werkzeug in a thread.
  It is NOT the `app` fixture of tests/conftest.py and runs no rolled-back transaction: what a
  browser test writes stays for the rest of the session, so tests that change state should use
  accounts (or data) of their own.
- pytest-playwright supplies `browser`, `new_context`, `context` and `page`; we only point it at
  /usr/bin/chromium (never a downloaded browser) and at the live server's base URL.
- `shot(page, step)` saves test-artifacts/screenshots/<test name>-<step>.png, kept after the run.

Every test collected under tests/e2e is marked `browser` (deselect with -m "not browser").
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page

from app.core.db import db_session
from tests.conftest import build_app, migrate
from tests.http_client import serve_in_thread

E2E_DIR = Path(__file__).resolve().parent
SCREENSHOT_DIR = E2E_DIR.parent.parent / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.browser)


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask
    logins: dict[str, str]  # demo role ("employee", "manager", "HR" …) -> login

    def login_for(self, role: str) -> str:
        return self.logins[role]


@pytest.fixture(scope="session")
def live_server(make_database_url: Callable[[], str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from app.demo.cli import load_demo

    application = build_app(make_database_url(), tmp_path_factory.mktemp("e2e-uploads"))
    migrate(application)
    with application.app_context():
        demo = load_demo()  # the organisation, the catalog from courses/, its rules, sessions and cohort
        db_session.commit()
    # "employee (主任級)" -> "employee": the first word of each demo role names it.
    logins = {entry.role.split(" (")[0]: entry.login for entry in demo}

    with serve_in_thread(application, "e2e-live-server") as (port, _errors):
        url = f"http://127.0.0.1:{port}"
        application.config["BASE_URL"] = url  # links the pages print (check-in, verify) lead back here
        yield LiveServer(url=url, app=application, logins=logins)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], live_server: LiveServer) -> dict[str, Any]:
    return {**browser_context_args, "base_url": live_server.url}


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Return shot(page, step): a full-page screenshot named after the test and the step."""
    name = request.node.originalname
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None:
        extra = [str(value) for key, value in callspec.params.items() if key != "browser_name"]
        if extra:
            name += "[" + "-".join(extra) + "]"
    name = re.sub(r"[^\w.\-\[\]]+", "_", name)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    def _shot(page: Page, step: str) -> Path:
        safe_step = re.sub(r"[^\w.-]+", "_", step)
        path = SCREENSHOT_DIR / f"{name}-{safe_step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
