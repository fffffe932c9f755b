"""Races of e-learning through the real web stack, on SQLite and PostgreSQL (ARCHITECTURE.md rule
11): two tabs finishing the last page at once complete the module and the course once (one
completion, one certificate); a module started in three tabs at once is begun once; a page read
in one tab while the last one is read in another still finishes the module; the closing quiz
started in three tabs at once starts one attempt. Never a 500.

Like tests/assessment/test_concurrency.py this serves a freshly migrated database of its own with
real commits (not the rolled-back `app` fixture); each test makes its own course and people.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.assessment.models import QuizAttempt
from app.audit.models import AuditEvent
from app.completion.models import Completion
from app.core.db import db_session
from app.elearning.models import ModuleProgress, PageView, ProgressState
from tests import factories
from tests.conftest import build_app, migrate
from tests.elearning.conftest import QUIZ, elearning_course, module
from tests.http_client import HttpClient, serve_in_thread
from tests.racing import Post, assert_all_redirected, post_at_once


@dataclass
class Site:
    port: int
    app: Flask
    errors: list[BaseException] = field(default_factory=list)

    def browser(self, login: str) -> HttpClient:
        return HttpClient("127.0.0.1", self.port).sign_in(login)


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("elearning-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
    with serve_in_thread(application, "elearning-live-server") as (port, errors):
        yield Site(port, application, errors)


@pytest.fixture(autouse=True)
def _fresh_errors(site: Site) -> None:
    site.errors.clear()  # each test answers for its own requests


def _learner(site: Site, pages: int, *, quiz: bool = False) -> tuple[str, int, int, str]:
    with site.app.app_context():
        person = factories.employee()
        course = elearning_course(module(pages=pages, quiz=quiz), quiz=QUIZ if quiz else None)
        return person.employee_number, person.id, course.id, f"/learn/{course.code}/main"


def _count(site: Site, model: type, *where: object) -> int:
    with site.app.app_context():
        return int(db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _read(browser: HttpClient, base: str, number: int) -> None:
    response = browser.post(f"{base}/pages/{number}/read", {"csrf_token": browser.csrf_token(f"{base}/pages/{number}")})
    assert response.status == 302, response.status


def test_two_tabs_finishing_the_last_page_at_once_complete_the_course_once(site: Site) -> None:
    login, person_id, course_id, base = _learner(site, pages=3)
    tabs = [site.browser(login) for _ in range(2)]
    _read(tabs[0], base, 1)
    _read(tabs[0], base, 2)
    tokens = [tab.csrf_token(f"{base}/pages/3") for tab in tabs]  # both tabs show the last page

    results = post_at_once([Post(tab, f"{base}/pages/3/read", {"csrf_token": token})
                            for tab, token in zip(tabs, tokens, strict=True)])

    assert_all_redirected(results, site.errors)
    assert _count(site, Completion, Completion.employee_id == person_id, Completion.course_id == course_id) == 1
    assert _count(site, AuditEvent, AuditEvent.action == "elearning.module_completed",
                  AuditEvent.target_id == str(course_id)) == 1
    assert _count(site, AuditEvent, AuditEvent.action == "completion.recorded") >= 1
    with site.app.app_context():
        (progress,) = db_session.scalars(select(ModuleProgress).where(ModuleProgress.employee_id == person_id)).all()
        assert progress.state == ProgressState.COMPLETED


def test_the_last_two_unread_pages_read_in_two_tabs_at_once_still_finish_the_module(site: Site) -> None:
    login, person_id, course_id, base = _learner(site, pages=3)
    tabs = [site.browser(login) for _ in range(2)]
    _read(tabs[0], base, 1)
    posts = [Post(tab, f"{base}/pages/{number}/read", {"csrf_token": tab.csrf_token(f"{base}/pages/{number}")})
             for tab, number in zip(tabs, (2, 3), strict=True)]

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    assert _count(site, PageView) >= 3
    assert _count(site, Completion, Completion.employee_id == person_id, Completion.course_id == course_id) == 1


def test_a_module_started_in_three_tabs_at_once_is_begun_once(site: Site) -> None:
    login, person_id, _course_id, base = _learner(site, pages=2)
    tabs = [site.browser(login) for _ in range(3)]
    tokens = [tab.csrf_token(base) for tab in tabs]

    results = post_at_once([Post(tab, f"{base}/start", {"csrf_token": token})
                            for tab, token in zip(tabs, tokens, strict=True)])

    assert_all_redirected(results, site.errors)
    assert all(not isinstance(r, BaseException) and r.headers["Location"].endswith(f"{base}/pages/1") for r in results)
    assert _count(site, ModuleProgress, ModuleProgress.employee_id == person_id) == 1


def test_the_closing_quiz_started_in_three_tabs_at_once_starts_one_attempt(site: Site) -> None:
    login, person_id, _course_id, base = _learner(site, pages=1, quiz=True)
    tabs = [site.browser(login) for _ in range(3)]
    _read(tabs[0], base, 1)
    tokens = [tab.csrf_token(f"{base}/quiz") for tab in tabs]

    results = post_at_once([Post(tab, f"{base}/quiz/start", {"csrf_token": token})
                            for tab, token in zip(tabs, tokens, strict=True)])

    assert_all_redirected(results, site.errors)
    assert _count(site, QuizAttempt, QuizAttempt.employee_id == person_id, QuizAttempt.enrolment_id.is_(None)) == 1
