"""Races of the half-year report through the real web stack, on SQLite and PostgreSQL
(ARCHITECTURE.md rules 3 and 11): two HR users publishing the same draft at once publish it once;
two HR users correcting the same published version at once make one correction (one new version,
the old one superseded once). Each has seen the preview first and both press its confirm button
at once. The loser is told what happened, in Japanese, on the page it is redirected to: never a
500 or a second effect; each move is in the audit log exactly once.

Like tests/cohorts/test_concurrency.py this runs on a freshly migrated database of its own with
real commits, served by werkzeug's threaded server, with requests released together by a barrier.
The halves raced over ended long ago (real clock), so publishing is allowed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.db import db_session
from app.org.models import RoleName
from app.reports.models import HalfYearReport
from tests import factories
from tests.confirming import previewed
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, serve_in_thread
from tests.racing import Post, assert_all_redirected, post_at_once, told


@dataclass
class Site:
    port: int
    app: Flask
    hr_logins: list[str]
    errors: list[BaseException] = field(default_factory=list)

    def browser(self, login: str) -> HttpClient:
        return HttpClient("127.0.0.1", self.port).sign_in(login)


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("report-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        human_resources = factories.unit("人事課")
        hr_logins = [factories.employee(human_resources, "SHUSA", roles=(RoleName.HR,)).employee_number
                     for _ in range(2)]
        db_session.commit()
    with serve_in_thread(application, "report-live-server") as (port, errors):
        yield Site(port, application, hr_logins, errors)


@pytest.fixture(autouse=True)
def _fresh_errors(site: Site) -> None:
    site.errors.clear()


def _audited(site: Site, action: str) -> int:
    with site.app.app_context():
        return db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def _versions(site: Site, fiscal_year: int, half: int) -> list[HalfYearReport]:
    with site.app.app_context():
        return list(db_session.scalars(select(HalfYearReport).where(
            HalfYearReport.fiscal_year == fiscal_year, HalfYearReport.half == half).order_by(HalfYearReport.version)))


def test_two_hr_users_publishing_at_once_publish_once(site: Site) -> None:
    path = "/reports/half-year?fy=2021&half=1"
    browsers = [site.browser(login) for login in site.hr_logins]
    # each has seen the preview of what is published, and both press the confirm button at once
    posts = [Post(b, *previewed(b, path, {"csrf_token": b.csrf_token(path), "narrative": f"公表{i}",
                                          "action": "publish"})) for i, b in enumerate(browsers)]
    before = _audited(site, "reports.half_year_published")
    results = post_at_once(posts)
    assert_all_redirected(results, site.errors)

    versions = _versions(site, 2021, 1)
    assert len(versions) == 1 and versions[0].published_at is not None and versions[0].public_slug
    assert versions[0].narrative in ("公表0", "公表1")
    assert _audited(site, "reports.half_year_published") == before + 1
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    # the loser either raced the guarded UPDATE, or (SQLite's single writer) read the published row
    assert set(messages) in ({"報告を公表しました。数値は公表時点で確定しました。", "公表済みの報告は変更できません。"},
                             {"報告を公表しました。数値は公表時点で確定しました。", "この報告は既に公表されています。"})


def test_two_hr_users_correcting_at_once_make_one_correction(site: Site) -> None:
    path = "/reports/half-year?fy=2022&half=2"
    browsers = [site.browser(login) for login in site.hr_logins]
    first = browsers[0]
    first.post(*previewed(first, path, {"csrf_token": first.csrf_token(path), "narrative": "初版",
                                        "action": "publish"}))
    posts = [Post(b, *previewed(b, path, {"csrf_token": b.csrf_token(path), "narrative": f"訂正版{i}",
                                          "reason": f"誤記{i}", "action": "correct", "version": "1"}))
             for i, b in enumerate(browsers)]
    before = _audited(site, "reports.half_year_corrected")
    results = post_at_once(posts)
    assert_all_redirected(results, site.errors)

    versions = _versions(site, 2022, 2)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].superseded_at is not None and versions[1].superseded_at is None
    assert versions[1].previous_id == versions[0].id and versions[1].correction_reason in ("誤記0", "誤記1")
    assert versions[0].narrative == "初版"  # the corrected version is kept as it was
    assert _audited(site, "reports.half_year_corrected") == before + 1
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert messages == ["この版は既に訂正されています。最新の版を表示しています。",
                        "訂正版を公表しました。以前の版も引き続き閲覧でき、報告からリンクされています。"]
