"""A freshly migrated database of its own, served on a free port with real commits: the setting of
the race tests that drive the web stack from many threads (tests/racing.py), shared so each race
module only adds its own course and people."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask

from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, serve_in_thread


@dataclass
class Site:
    port: int
    app: Flask
    hr_login: str
    errors: list[BaseException] = field(default_factory=list)  # what the app raised while serving

    def browser(self, login: str) -> HttpClient:
        return HttpClient("127.0.0.1", self.port).sign_in(login)


@contextmanager
def served_site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory,
                name: str) -> Iterator[Site]:
    """Migrate a new database, add the grades and one HR officer, and serve it in a thread."""
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp(f"{name}-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        hr_login = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,)).employee_number
    with serve_in_thread(application, f"{name}-live-server") as (port, errors):
        yield Site(port, application, hr_login, errors)
