"""The re-identification attacks of issue 14 (finding 2) against an anonymous survey, on SQLite and
PostgreSQL, through the web stack with real commits (each answer its own transaction, as in
production), on a freshly migrated database of this module's own:

1. a lone respondent: results filtered by their session (and every other filter and combination
   of filters: all sessions, other sessions, fiscal halves and years) show nothing of theirs;
2. the 回答済み mark: HR's enrolment pages do not tell who answered;
3. the stored order: receipts name the enrolment and are stored in the order people answered; the
   responses, read in their physical order (rowid on SQLite, ctid on PostgreSQL), by id, by date
   or by inserting transaction (xmin on PostgreSQL), pair with nothing finer than a whole batch.
   The order is decided by `transitions.shuffle`, which the test replaces with a rotation so the
   outcome is deterministic: answers in arrival order can only be matched if the stored order
   followed the arrivals, which the old code did (4 of 4 matched) and the rotation never does.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select, text

from app.assessment import surveys, transitions
from app.assessment.models import Survey
from app.catalog.models import Course
from app.core.db import db_session
from app.core.fiscal import fiscal_half_of, fiscal_year_of
from app.org.models import RoleName
from app.reports.figures import Period, satisfaction_figures
from tests import factories
from tests.assessment.test_surveys import ratings
from tests.conftest import build_app, migrate

BACKEND = os.environ.get("MANABI_TEST_BACKEND", "sqlite")
PHYSICAL = "ctid" if BACKEND == "postgresql" else "rowid"


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("survey-anonymity-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
    yield application
    application.extensions["manabi.engine"].dispose()


@dataclass
class Course_:
    code: str
    course_id: int
    hr: Any
    sessions: list[int]
    people: list[list[Any]]  # per session
    enrolments: list[list[int]]  # per session
    starts: list[datetime]


def make_course(app: Flask, sizes: list[int], starts_in: list[timedelta] | None = None) -> Course_:
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        course = factories.course(survey_required=True)
        sessions, people, enrolments, starts = [], [], [], []
        for n, size in enumerate(sizes):
            training_session = factories.training_session(course, label=f"第{n + 1}回",
                                                          starts_in=(starts_in or [timedelta(days=14)] * len(sizes))[n])
            members = [factories.employee() for _ in range(size)]
            enrolments.append([factories.enrolment(p, training_session).id for p in members])
            sessions.append(training_session.id)
            people.append(members)
            starts.append(training_session.starts_at)
        db_session.commit()
        return Course_(course.code, course.id, hr, sessions, people, enrolments, starts)


def answer(app: Flask, site: Course_, session_index: int, index: int, score: int, comment: str) -> None:
    """One person answers through the page (GET the form, POST it): one committed transaction."""
    client = app.test_client()
    factories.login_as(client, site.people[session_index][index])
    path = f"/enrolments/{site.enrolments[session_index][index]}/survey"
    with app.app_context():
        survey = surveys.survey_to_show(db_session.get(Course, site.course_id))
        fields = ratings(survey, score, score, score, score, comment=comment)
        db_session.rollback()
    response = factories.post(client, path, fields, form_page=path)
    assert (response.status_code == 302
            and response.headers["Location"] == f"/enrolments/{site.enrolments[session_index][index]}")


def hr_page(app: Flask, site: Course_, path: str) -> str:
    client = app.test_client()
    factories.login_as(client, site.hr)
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def rows(app: Flask, sql: str, **params: Any) -> list[Any]:
    with app.app_context():
        result = db_session.execute(text(sql), params).all()
        db_session.rollback()
        return result


# --- 1. a lone respondent, and every filter and combination of filters ------------------------


def test_a_lone_respondent_is_in_no_filter_nor_any_difference_of_filters(site: Flask) -> None:
    with time_machine.travel(datetime(2026, 5, 1, 1, 0, tzinfo=UTC), tick=False):  # FY2026, first half
        c = make_course(site, [2, 5, 5], [timedelta(days=14), timedelta(days=14), timedelta(days=180)])
    lone, first_batch, second_batch = 0, 1, 2
    with time_machine.travel(c.starts[1] + timedelta(hours=2), tick=False):
        for i, score in enumerate((5, 4, 4, 3, 3)):
            answer(site, c, first_batch, i, score, f"前期の感想{i}")
    with time_machine.travel(c.starts[2] + timedelta(hours=2), tick=False):  # the other half of the year
        answer(site, c, lone, 0, 1, "ひとりだけの率直な感想")
        for i in range(5):
            answer(site, c, second_batch, i, 2, f"後期の感想{i}")
        answered_at = c.starts[2] + timedelta(hours=2)

    base = f"/catalog/design/{c.code}/survey-results"
    pages = {"all": hr_page(site, c, base)} | {
        f"session {n}": hr_page(site, c, f"{base}?session={sid}") for n, sid in enumerate(c.sessions)}
    for name, page in pages.items():
        assert "ひとりだけ" not in page, name
    assert "研修全体の満足度" not in pages["session 0"] and "まだ表示していない回答が 1 件" in pages["session 0"]
    assert "回答 1 件／受講者 2 人（回答率 50%）" in pages["session 0"]
    # all sessions = session 1 + session 2 exactly: the difference of any two filters is whole groups
    assert "回答 11 件／受講者 12 人（回答率 92%）" in pages["all"] and "まだ表示していない回答が 1 件" in pages["all"]
    assert '<td class="num">2.90</td>' in pages["all"]  # (5+4+4+3+3 + 2*5) / 10, the lone 1 left out

    with site.app_context():  # the HR figures: a fiscal year = its halves, and the lone answer in none
        first_half, second_half = fiscal_half_of(c.starts[1]), fiscal_half_of(answered_at)
        year = fiscal_year_of(answered_at).year
        figures = {half: satisfaction_figures(Period(year, half)).get(c.course_id) for half in (None, 1, 2)}
        released = {row.released_on for row in db_session.execute(
            text("SELECT DISTINCT released_on FROM survey_responses r JOIN surveys s ON s.id = r.survey_id "
                 "WHERE s.course_id = :course"), {"course": c.course_id})}
        db_session.rollback()
    assert len(released) == 2  # one day per batch
    assert (year, first_half.half, second_half.half) == (2026, 1, 2)
    assert figures == {None: (2.9, 10), 1: (3.8, 5), 2: (2.0, 5)}  # year = first half + second half


# --- 2. the 回答済み mark ------------------------------------------------------------------------


def test_hr_cannot_tell_from_the_enrolment_pages_who_answered(site: Flask) -> None:
    c = make_course(site, [2])
    with time_machine.travel(c.starts[0] + timedelta(hours=2), tick=False):
        answer(site, c, 0, 0, 4, "")
        answered, silent = (hr_page(site, c, f"/enrolments/{e}") for e in c.enrolments[0])
    for word in ("回答済み", "アンケートに回答する"):
        assert word not in answered and word not in silent
    assert answered.split("修了までの進み具合")[1].split("</section>")[0].replace(
        str(c.enrolments[0][0]), "") == silent.split("修了までの進み具合")[1].split("</section>")[0].replace(
        str(c.enrolments[0][1]), "")


# --- 3. the stored order of responses against the receipts -----------------------------------


def rotate(recorded: list[list[str]]) -> Callable[[list[dict[str, Any]]], None]:
    """A stand-in for the random shuffle: the written order is the pool's order rotated by one,
    with the pool first sorted by its comment so the outcome does not depend on how it was read."""
    def shuffle(entries: list[dict[str, Any]]) -> None:
        entries.sort(key=lambda e: next(v for v in e["answers"].values() if isinstance(v, str)))
        entries[:] = entries[1:] + entries[:1]
        recorded.append([next(v for v in e["answers"].values() if isinstance(v, str)) for e in entries])
    return shuffle


def test_the_stored_order_of_responses_does_not_match_the_receipts(site: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    c = make_course(site, [6])
    recorded: list[list[str]] = []
    monkeypatch.setattr(transitions, "shuffle", rotate(recorded))
    survey_query = "SELECT id FROM surveys WHERE course_id = :course"
    order = [3, 0, 4, 1, 2]  # the respondents answer in this order; their comment names them
    xmins: list[list[Any]] = []
    with time_machine.travel(c.starts[0] + timedelta(hours=2), tick=False):
        for n, person in enumerate(order, start=1):
            answer(site, c, 0, person, 3, f"本人{person}")
            (survey_id,) = rows(site, survey_query, course=c.course_id)[0]
            released = rows(site, "SELECT count(*) FROM survey_responses WHERE survey_id = :s", s=survey_id)[0][0]
            pooled = rows(site, "SELECT answers FROM survey_pending_responses WHERE survey_id = :s", s=survey_id)
            assert (released, len(pooled)) == ((0, n) if n < 5 else (5, 0))  # nothing readable before k
            if BACKEND == "postgresql" and n < 5:
                xmins.append([r[0] for r in rows(site, "SELECT xmin::text FROM survey_pending_responses "
                                                       "WHERE survey_id = :s", s=survey_id)])
    people = {e: p for p, e in enumerate(c.enrolments[0])}
    # The attacker's view: receipts in the order stored (= the order of answering) …
    receipts = [people[e] for (e,) in rows(site, f"SELECT enrolment_id FROM survey_receipts WHERE survey_id = :s "
                                                 f"ORDER BY {PHYSICAL}", s=survey_id)]
    assert receipts == order
    text_question = rows(site, "SELECT id FROM survey_questions WHERE survey_id = :s AND kind = 'text' "
                               "ORDER BY position", s=survey_id)[0][0]

    def whose(answers: Any) -> int:
        values = json.loads(answers) if isinstance(answers, str) else answers
        return int(values[str(text_question)].removeprefix("本人"))

    stored = [whose(a) for (a,) in rows(site, f"SELECT answers FROM survey_responses WHERE survey_id = :s "
                                              f"ORDER BY {PHYSICAL}", s=survey_id)]
    # … matched position by position with the responses in their physical order: no one
    assert sorted(stored) == sorted(order)
    assert stored == [int(t.removeprefix("本人")) for t in recorded[-1]]  # the order is the shuffle's
    assert sum(r == s for r, s in zip(receipts, stored, strict=True)) == 0
    # nor by id, nor by day: random ids, one day for the batch
    by_id = [whose(a) for (a,) in rows(site, "SELECT answers FROM survey_responses WHERE survey_id = :s ORDER BY id",
                                       s=survey_id)]
    assert sorted(by_id) == sorted(order)
    assert len(rows(site, "SELECT DISTINCT released_on FROM survey_responses WHERE survey_id = :s", s=survey_id)) == 1
    if BACKEND == "postgresql":
        # nor by transaction: the whole batch was written by one transaction (the fifth answer's),
        # and each arrival rewrote the whole pool, whose rows then shared that one transaction
        batch = {r[0] for r in rows(site, "SELECT xmin::text FROM survey_responses WHERE survey_id = :s", s=survey_id)}
        assert len(batch) == 1
        assert all(len(set(pool)) == 1 for pool in xmins) and [len(pool) for pool in xmins] == [1, 2, 3, 4]
        assert len({pool[0] for pool in xmins} | batch) == 5  # a new transaction each time
    # the sixth respondent starts a new pool: not released, so not in any result
    with time_machine.travel(c.starts[0] + timedelta(hours=3), tick=False):
        answer(site, c, 0, 5, 1, "本人5")
    assert rows(site, "SELECT count(*) FROM survey_responses WHERE survey_id = :s", s=survey_id)[0][0] == 5
    assert "本人5" not in hr_page(site, c, f"/catalog/design/{c.code}/survey-results")


def test_the_random_shuffle_decides_the_stored_order(site: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Without the stand-in: the physical order of a released batch is exactly the order the real
    random shuffle produced, whatever the order of arrival."""
    c = make_course(site, [5])
    produced: list[list[str]] = []
    real = transitions.shuffle

    def spy(entries: list[dict[str, Any]]) -> None:
        real(entries)
        produced.append([next(v for v in e["answers"].values() if isinstance(v, str)) for e in entries])

    monkeypatch.setattr(transitions, "shuffle", spy)
    with time_machine.travel(c.starts[0] + timedelta(hours=2), tick=False):
        for person in range(5):
            answer(site, c, 0, person, 4, f"本人{person}")
    (survey_id,) = rows(site, "SELECT id FROM surveys WHERE course_id = :course", course=c.course_id)[0]
    text_question = rows(site, "SELECT id FROM survey_questions WHERE survey_id = :s AND kind = 'text' "
                               "ORDER BY position", s=survey_id)[0][0]
    stored = [(json.loads(a) if isinstance(a, str) else a)[str(text_question)] for (a,) in rows(
        site, f"SELECT answers FROM survey_responses WHERE survey_id = :s ORDER BY {PHYSICAL}", s=survey_id)]
    assert stored == produced[-1] and len(produced) == 5


def test_every_survey_lookup_is_read_only(site: Flask) -> None:
    c = make_course(site, [1])
    with site.app_context():
        assert surveys.survey_of_course(c.course_id) is None
        shown = surveys.survey_to_show(db_session.get(Course, c.course_id))
        assert [q.position for q in shown.questions] == [1, 2, 3, 4, 5, 6] and shown.id is None
        db_session.commit()
        assert db_session.scalar(select(Survey).where(Survey.course_id == c.course_id)) is None
