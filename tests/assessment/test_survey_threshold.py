"""The fewest respondents an anonymous survey's results are shown for (SURVEY_MIN_RESPONDENTS, here
3): one or two answers show nothing, on the course's page or narrowed to a session, and the page
says how many more answers each session needs; the third shows them everywhere at once (scale
counts, averages, free text and the reports' satisfaction figure)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from app.assessment import surveys
from app.assessment.surveys import ensure_survey, satisfaction_by_course
from app.core.clock import today
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee, RoleName
from tests import factories
from tests.assessment.test_surveys import ratings


@pytest.fixture
def site(app, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "SURVEY_MIN_RESPONDENTS", 3)
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        course = factories.course("SV-K3", survey_required=True)
        first = factories.training_session(course, label="第1回")
        second = factories.training_session(course, label="第2回", starts_in=timedelta(days=15))
        people = [factories.employee() for _ in range(6)]
        enrolments = [factories.enrolment(p, first).id for p in people[:4]] + [
            factories.enrolment(p, second).id for p in people[4:]]
        db_session.commit()
        return {"hr": hr, "enrolments": enrolments, "course": course.id, "sessions": (first.id, second.id),
                "after": second.starts_at + timedelta(hours=2)}


def answer(app, site, index: int, score: int) -> None:  # type: ignore[no-untyped-def]
    with app.app_context(), time_machine.travel(site["after"], tick=False):
        enrolment = db_session.get(Enrolment, site["enrolments"][index])
        survey = ensure_survey(enrolment.course)
        surveys.answer(db_session.get(Employee, enrolment.employee_id), enrolment, survey,
                       ratings(survey, score, score, score, score, comment=f"ひとこと{index}"))
        db_session.commit()


def pages(app, site) -> dict[str, str]:  # type: ignore[no-untyped-def]
    client = app.test_client()
    factories.login_as(client, site["hr"])
    first, second = site["sessions"]
    base = "/catalog/design/SV-K3/survey-results"
    return {name: client.get(path).get_data(as_text=True)
            for name, path in (("all", base), ("first", f"{base}?session={first}"),
                               ("second", f"{base}?session={second}"))}


def shows_answers(page: str) -> bool:
    return "研修全体の満足度" in page or "ひとこと" in page or 'class="chart"' in page


def test_one_and_two_respondents_show_nothing_and_three_show_everything(app, site):
    with app.app_context():
        assert surveys.min_respondents() == 3
    answer(app, site, 0, 1)
    seen = pages(app, site)
    assert not any(shows_answers(page) for page in seen.values())
    assert "第1回: あと 2 件の回答で表示されます。" in seen["all"] and "第1回: あと 2 件" in seen["first"]
    answer(app, site, 1, 2)
    seen = pages(app, site)
    assert not any(shows_answers(page) for page in seen.values())
    assert "第1回: あと 1 件の回答で表示されます。" in seen["all"]
    with app.app_context():
        assert satisfaction_by_course(today() - timedelta(days=400), today() + timedelta(days=400)) == {}
    answer(app, site, 2, 4)
    seen = pages(app, site)
    for name in ("all", "first"):
        assert shows_answers(seen[name]) and 'id="answers-needed"' not in seen[name]
        assert all(f"ひとこと{i}" in seen[name] for i in range(3))
        assert '<td class="num">2.33</td>' in seen[name]  # (1 + 2 + 4) / 3
    assert not shows_answers(seen["second"])
    with app.app_context():
        assert satisfaction_by_course(today() - timedelta(days=400), today() + timedelta(days=400)) == {
            site["course"]: (2.33, 3)}


def test_a_session_narrowed_to_fewer_than_three_shows_nothing_and_nothing_by_subtraction(app, site):
    for index, score in ((0, 5), (1, 5), (2, 5), (4, 1), (5, 1)):  # three of the first, both of the second
        answer(app, site, index, score)
    seen = pages(app, site)
    assert not shows_answers(seen["second"])  # both of its two answered: never three together
    assert "第2回: 回答できる受講者が残っていないため、この回答は表示されません" in seen["second"]
    assert "ひとこと4" not in seen["all"] and "ひとこと5" not in seen["all"]
    # all sessions and the first session show the same three answers: their difference is nobody
    for name in ("all", "first"):
        overall = seen[name].split("研修全体の満足度</h2>")[1].split("</section>")[0]
        assert '<tr><td>5</td><td class="num">3</td></tr>' in overall
        assert '<tr><td>1</td><td class="num">0</td></tr>' in overall
