"""Post-course surveys: receipts and pending responses, release in batches of k, one answer each,
required ratings, named surveys, the pages (no write on GET), results shown only in whole groups of
at least k, and no "answered" mark for HR. The re-identification attacks of issue 14 against the
stored data, with real commits, are in test_survey_anonymity.py."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import Date, DateTime, func, inspect, select

from app.assessment import surveys
from app.assessment.models import PendingSurveyResponse, Survey, SurveyQuestionKind, SurveyReceipt, SurveyResponse
from app.assessment.surveys import SurveyError, ensure_survey
from app.core.clock import today
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.db_snapshot import changed_tables, snapshot
from tests.reports import charts_of, loads_nothing


def ratings(survey: Survey, *values: int, comment: str = "") -> dict[str, str]:
    """Form fields (`q<position>`): the scale questions rated in order, the first text question
    with a comment."""
    scale = [q for q in survey.questions if q.kind == SurveyQuestionKind.SCALE]
    written = [q for q in survey.questions if q.kind == SurveyQuestionKind.TEXT]
    fields = {f"q{q.position}": str(v) for q, v in zip(scale, values, strict=False)}
    if comment:
        fields[f"q{written[0].position}"] = comment
    return fields


def started(training_session) -> datetime:  # type: ignore[no-untyped-def]
    return training_session.starts_at + timedelta(hours=1)


def count(model) -> int:  # type: ignore[no-untyped-def]
    return db_session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def course_with_learners(ctx):
    course = factories.course(survey_required=True)
    training_session = factories.training_session(course)
    people = [factories.employee() for _ in range(7)]
    enrolments = [factories.enrolment(person, training_session) for person in people]
    survey = ensure_survey(course)
    db_session.commit()
    return {"course": course, "session": training_session, "people": people, "enrolments": enrolments, "survey": survey}


def test_answering_creates_a_receipt_and_a_pending_response(course_with_learners):
    c = course_with_learners
    survey, person, enrolment = c["survey"], c["people"][0], c["enrolments"][0]
    with time_machine.travel(started(c["session"]), tick=False):
        surveys.answer(person, enrolment, survey, ratings(survey, 5, 4, 3, 2, comment="実習が役立った"))
        answered_on = today()
    receipt = db_session.scalar(select(SurveyReceipt))
    assert (receipt.survey_id, receipt.enrolment_id, receipt.answered_on) == (survey.id, enrolment.id, answered_on)
    assert count(SurveyResponse) == 0  # nothing released: fewer than k have answered
    pending = db_session.scalar(select(PendingSurveyResponse))
    scale = [q for q in survey.questions if q.kind == SurveyQuestionKind.SCALE]
    written = [q for q in survey.questions if q.kind == SurveyQuestionKind.TEXT]
    assert pending.answers == {str(scale[0].id): 5, str(scale[1].id): 4, str(scale[2].id): 3, str(scale[3].id): 2,
                               str(written[0].id): "実習が役立った"}  # the empty text question is left out
    assert pending.session_id == c["session"].id and pending.survey_id == survey.id and pending.employee_id is None
    assert surveys.has_answered(survey.id, enrolment.id)
    assert surveys.has_answered_course(c["course"].id, enrolment.id)
    assert not surveys.has_answered(survey.id, c["enrolments"][1].id)


def test_responses_are_released_together_once_k_of_the_session_answered(course_with_learners):
    c = course_with_learners
    survey = c["survey"]
    assert surveys.min_respondents() == 5  # the default
    with time_machine.travel(started(c["session"]), tick=False):
        for n, (person, enrolment) in enumerate(zip(c["people"], c["enrolments"], strict=True), start=1):
            surveys.answer(person, enrolment, survey, ratings(survey, 4, 4, 4, 4, comment=f"感想{n}"))
            released, pending = count(SurveyResponse), count(PendingSurveyResponse)
            assert (released, pending) == ((0, n) if n < 5 else (5, n - 5)), n
        released_on = today()
    # one day, the batch's
    assert db_session.scalars(select(SurveyResponse.released_on).distinct()).all() == [released_on]
    assert sorted(r.answers[str(survey.questions[4].id)] for r in db_session.scalars(select(SurveyResponse))) == [
        f"感想{n}" for n in range(1, 6)]
    assert count(SurveyReceipt) == 7


def test_every_pending_and_released_response_gets_a_fresh_random_id(course_with_learners, monkeypatch):
    c = course_with_learners
    survey = c["survey"]
    seen: list[set[str]] = []
    with time_machine.travel(started(c["session"]), tick=False):
        for person, enrolment in list(zip(c["people"], c["enrolments"], strict=True))[:5]:
            surveys.answer(person, enrolment, survey, ratings(survey, 3, 3, 3, 3))
            ids = (set(db_session.scalars(select(PendingSurveyResponse.id)))
                   | set(db_session.scalars(select(SurveyResponse.id))))
            assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
            assert not any(ids & earlier for earlier in seen)  # the pool is written anew: no id survives
            seen.append(ids)


def test_the_tables_carry_nothing_that_identifies_the_person(course_with_learners):
    c = course_with_learners
    survey = c["survey"]
    with time_machine.travel(started(c["session"]), tick=False):
        for person, enrolment in list(zip(c["people"], c["enrolments"], strict=True))[:6]:
            surveys.answer(person, enrolment, survey, ratings(survey, 4, 4, 4, 4))

    schema = inspect(db_session.connection())
    columns = {col["name"]: col["type"] for col in schema.get_columns("survey_responses")}
    assert set(columns) == {"id", "survey_id", "session_id", "employee_id", "released_on", "answers"}
    assert not any(isinstance(kind, DateTime) for kind in columns.values())  # a date, never a time
    assert isinstance(columns["released_on"], Date)
    pool = {col["name"]: col["type"] for col in schema.get_columns("survey_pending_responses")}
    assert set(pool) == {"id", "survey_id", "session_id", "employee_id", "answers"}  # no date at all
    receipt_columns = {col["name"] for col in schema.get_columns("survey_receipts")}
    assert receipt_columns == {"id", "survey_id", "enrolment_id", "answered_on"}
    for table in ("survey_responses", "survey_pending_responses"):
        assert {fk["referred_table"] for fk in schema.get_foreign_keys(table)} == {"surveys", "training_sessions",
                                                                                 "employees"}
    assert {fk["referred_table"] for fk in schema.get_foreign_keys("survey_receipts")} == {"surveys", "enrolments"}
    assert db_session.scalars(select(SurveyResponse.employee_id).distinct()).all() == [None]
    assert db_session.scalars(select(PendingSurveyResponse.employee_id).distinct()).all() == [None]


def test_a_named_survey_stores_who_answered(course_with_learners):
    c = course_with_learners
    survey = c["survey"]
    survey.is_anonymous = False
    db_session.commit()
    with time_machine.travel(started(c["session"]), tick=False):
        surveys.answer(c["people"][0], c["enrolments"][0], survey, ratings(survey, 3, 3, 3, 3))
    assert db_session.scalar(select(PendingSurveyResponse.employee_id)) == c["people"][0].id


def test_a_second_answer_is_refused(course_with_learners):
    c = course_with_learners
    survey, person, enrolment = c["survey"], c["people"][0], c["enrolments"][0]
    with time_machine.travel(started(c["session"]), tick=False):
        surveys.answer(person, enrolment, survey, ratings(survey, 5, 5, 5, 5))
        with pytest.raises(SurveyError, match="既に回答"):
            surveys.answer(person, enrolment, survey, ratings(survey, 1, 1, 1, 1))
    assert count(PendingSurveyResponse) == 1 and count(SurveyResponse) == 0
    assert count(SurveyReceipt) == 1


def test_every_rating_is_required(course_with_learners):
    c = course_with_learners
    survey, person, enrolment = c["survey"], c["people"][0], c["enrolments"][0]
    with time_machine.travel(started(c["session"]), tick=False):
        with pytest.raises(SurveyError, match="講師の説明のわかりやすさ"):
            surveys.answer(person, enrolment, survey, ratings(survey, 5, 4, 3))
        fields = ratings(survey, 5, 4, 3, 2)
        fields[next(iter(fields))] = "6"  # out of the scale
        with pytest.raises(SurveyError, match="研修全体の満足度"):
            surveys.answer(person, enrolment, survey, fields)
    assert count(PendingSurveyResponse) == 0
    assert not surveys.has_answered(survey.id, enrolment.id)


def test_only_a_participant_of_a_started_session_answers(course_with_learners):
    c = course_with_learners
    survey, person, enrolment = c["survey"], c["people"][0], c["enrolments"][0]
    with pytest.raises(SurveyError, match="研修の開始後"):
        surveys.answer(person, enrolment, survey, ratings(survey, 5, 5, 5, 5))
    with time_machine.travel(started(c["session"]), tick=False):
        with pytest.raises(SurveyError, match="受講が確定した方のみ"):
            surveys.answer(c["people"][1], enrolment, survey, ratings(survey, 5, 5, 5, 5))


def test_results_count_only_cells_of_at_least_k(ctx):
    """Cells are (survey, session, release day): a smaller one is left out of every total."""
    from app.assessment.surveys import _shown_cells

    class Row:
        def __init__(self, session_id: int, day: int) -> None:
            self.survey_id, self.session_id, self.released_on = 1, session_id, day

    rows = [Row(1, 1)] * 5 + [Row(2, 1)] * 4 + [Row(1, 2)] * 1
    assert len(_shown_cells(rows, 5)) == 5
    assert len(_shown_cells(rows, 4)) == 9


# --- through the pages -----------------------------------------------------------------------


@pytest.fixture
def survey_site(app):
    """Two sessions of one course: six participants in the first, two in the second."""
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        course = factories.course("SV-1", survey_required=True)
        first = factories.training_session(course, label="第1回")
        second = factories.training_session(course, label="第2回", starts_in=timedelta(days=15))
        people = [factories.employee() for _ in range(8)]
        enrolments = [factories.enrolment(p, first) for p in people[:6]] + [factories.enrolment(p, second)
                                                                             for p in people[6:]]
        db_session.commit()
        return {"hr": hr, "people": people, "enrolments": [e.id for e in enrolments], "course": course.id,
                "sessions": (first.id, second.id), "after": second.starts_at + timedelta(hours=2)}


def the_survey(app, site) -> Survey:  # type: ignore[no-untyped-def]
    with app.app_context():
        from app.catalog.models import Course

        survey = surveys.survey_to_show(db_session.get(Course, site["course"]))
        _ = survey.questions
        return survey


def test_answering_through_the_page(app, client, survey_site):
    s = survey_site
    path = f"/enrolments/{s['enrolments'][0]}/survey"
    survey = the_survey(app, s)
    with time_machine.travel(s["after"], tick=False):
        factories.login_as(client, s["people"][0])
        with app.app_context():
            before = snapshot()
        page = client.get(path).get_data(as_text=True)
        with app.app_context():
            assert changed_tables(before, snapshot()) == []  # the survey is not even created by a look
            assert count(Survey) == 0
        assert "このアンケートは無記名です" in page and "研修全体の満足度" in page and 'name="q1"' in page
        assert "5 人以上" in page
        missing = factories.post(client, path, ratings(survey, 4, 4), form_page=path)
        assert missing.status_code == 400
        assert "次の項目の評価を選んでください" in missing.get_data(as_text=True)
        response = factories.post(client, path, ratings(survey, 4, 5, 3, 4, comment="演習が良かった"), form_page=path)
        assert response.status_code == 302 and response.headers["Location"] == f"/enrolments/{s['enrolments'][0]}"
        own = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "アンケートへのご回答ありがとうございました" in own and "回答済み" in own  # the person sees it
        again = client.get(path)
        assert again.status_code == 302
        assert "既に回答" in client.get(again.headers["Location"]).get_data(as_text=True)
        token = factories.csrf_token(client, f"/enrolments/{s['enrolments'][0]}")
        repeat = client.post(path, data={"csrf_token": token, **ratings(survey, 1, 1, 1, 1)})
        assert repeat.status_code == 302
    with app.app_context():
        (pending,) = db_session.scalars(select(PendingSurveyResponse)).all()
        assert pending.employee_id is None and count(SurveyResponse) == 0
        assert sorted(pending.answers.values(), key=str) == sorted([4, 5, 3, 4, "演習が良かった"], key=str)


def test_someone_elses_survey_is_not_found(app, client, survey_site):
    factories.login_as(client, survey_site["people"][1])
    assert client.get(f"/enrolments/{survey_site['enrolments'][0]}/survey").status_code == 404


def answer_all(app, site, scores: dict[int, int], *, comment: str = "感想{score}") -> None:  # type: ignore[no-untyped-def]
    """The enrolments at these indexes answer, rating every scale question with their score."""
    from app.enrollment.models import Enrolment
    from app.org.models import Employee

    with app.app_context(), time_machine.travel(site["after"], tick=False):
        for index, score in scores.items():
            enrolment = db_session.get(Enrolment, site["enrolments"][index])
            survey = ensure_survey(enrolment.course)
            surveys.answer(db_session.get(Employee, enrolment.employee_id), enrolment, survey,
                           ratings(survey, score, score, score, score,
                                   comment=comment.format(index=index, score=score)))
        db_session.commit()


def scale_rows(page: str, heading: str) -> tuple[str, list[tuple[str, str]]]:
    section = page.split(f"{heading}</h2>")[1].split("</section>")[0]
    return section, re.findall(r'<tr><td>(\d)</td><td class="num">(\d+)</td></tr>', section)


def test_results_show_the_response_rate_and_a_chart_with_numbers(app, client, survey_site):
    answer_all(app, survey_site, {0: 5, 1: 4, 2: 3, 3: 4, 4: 4})  # the sixth of the first session does not answer
    factories.login_as(client, survey_site["hr"])
    response = client.get("/catalog/design/SV-1/survey-results")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "回答 5 件／受講者 8 人（回答率 62%）" in page and "無記名" in page and 'id="held-back"' not in page
    overall, counts = scale_rows(page, "研修全体の満足度")
    assert counts == [("1", "0"), ("2", "0"), ("3", "1"), ("4", "3"), ("5", "1")]  # the numbers beside the chart
    chart = charts_of(page)["研修全体の満足度"]  # the house's pygal chart, as the reports draw theirs
    assert chart.bars == {"1": "0", "2": "0", "3": "1", "4": "3", "5": "1"} and chart.ticks[::5] == ["0", "5"]
    assert chart.table == "評価ごとの回答数" and "評価ごとの回答数" in chart.alt and loads_nothing(chart.svg)
    assert '<td class="num">4.00</td>' in overall
    assert page.index("感想3") < page.index("感想4") < page.index("感想5")  # sorted, not in any stored order


def test_a_lone_respondent_of_a_session_is_never_shown(app, client, survey_site):
    """Issue 14, finding 2: one respondent among two enrolled, results filtered by their session."""
    first, second = survey_site["sessions"]
    answer_all(app, survey_site, {6: 1}, comment="第2回だけの率直な感想")  # one of the second session's two
    factories.login_as(client, survey_site["hr"])
    page = client.get(f"/catalog/design/SV-1/survey-results?session={second}").get_data(as_text=True)
    assert "回答 1 件／受講者 2 人（回答率 50%）" in page and 'id="held-back"' in page
    assert "率直な感想" not in page and 'class="chart"' not in page and '<td class="num">1</td>' not in page
    assert "研修全体の満足度" not in page
    for path in ("/catalog/design/SV-1/survey-results", f"/catalog/design/SV-1/survey-results?session={first}"):
        assert "率直な感想" not in client.get(path).get_data(as_text=True)


def test_no_filter_or_difference_of_filters_isolates_fewer_than_k(app, client, survey_site):
    """The first session's five are shown; the second session's lone answer is in no total, so all
    sessions minus the first session is nobody (not that one person)."""
    first, _second = survey_site["sessions"]
    answer_all(app, survey_site, {0: 5, 1: 5, 2: 4, 3: 4, 4: 3, 6: 1})
    factories.login_as(client, survey_site["hr"])
    everyone = client.get("/catalog/design/SV-1/survey-results").get_data(as_text=True)
    only_first = client.get(f"/catalog/design/SV-1/survey-results?session={first}").get_data(as_text=True)
    assert "回答 6 件／受講者 8 人（回答率 75%）" in everyone and "まだ表示していない回答が 1 件" in everyone
    assert scale_rows(everyone, "研修全体の満足度")[1] == scale_rows(only_first, "研修全体の満足度")[1] == [
        ("1", "0"), ("2", "0"), ("3", "1"), ("4", "2"), ("5", "2")]
    assert "感想1" not in everyone


def test_results_pages_write_nothing_even_before_the_survey_exists(app, client, survey_site):
    factories.login_as(client, survey_site["hr"])
    with app.app_context():
        before = snapshot()
    page = client.get("/catalog/design/SV-1/survey-results")
    with app.app_context():
        assert changed_tables(before, snapshot()) == [] and count(Survey) == 0
    assert page.status_code == 200 and "回答 0 件／受講者 8 人（回答率 0%）" in page.get_data(as_text=True)


def test_results_are_for_hr_only(app, client, survey_site):
    factories.login_as(client, survey_site["people"][0])
    assert client.get("/catalog/design/SV-1/survey-results").status_code == 403


def survey_line(page: str) -> str:
    match = re.search(r"<li>アンケート: (.*?)</li>", page, re.S)
    assert match, "no survey line on the enrolment page"
    return match.group(1)


def test_hr_sees_no_answered_mark_of_an_anonymous_survey(app, client, survey_site):
    """Issue 14, finding 2: the enrolment pages showed 回答済み beside the one who answered."""
    answered, silent = survey_site["enrolments"][6], survey_site["enrolments"][7]
    answer_all(app, survey_site, {6: 2})
    factories.login_as(client, survey_site["hr"])
    lines = {e: survey_line(client.get(f"/enrolments/{e}").get_data(as_text=True)) for e in (answered, silent)}
    assert lines[answered] == lines[silent]  # nothing tells the two apart
    assert "回答済み" not in lines[answered] and "アンケートに回答する" not in lines[silent]
    owner = app.test_client()
    factories.login_as(owner, survey_site["people"][6])
    assert "回答済み" in survey_line(owner.get(f"/enrolments/{answered}").get_data(as_text=True))


def test_hr_sees_who_answered_a_named_survey(app, client, survey_site):
    answered = survey_site["enrolments"][6]
    answer_all(app, survey_site, {6: 2})
    with app.app_context():
        survey = db_session.scalar(select(Survey))
        survey.is_anonymous = False
        db_session.commit()
    factories.login_as(client, survey_site["hr"])
    assert "回答済み" in survey_line(client.get(f"/enrolments/{answered}").get_data(as_text=True))
