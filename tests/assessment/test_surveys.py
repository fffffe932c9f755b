"""Post-course surveys: receipts and responses, anonymity, one answer each, required ratings,
named surveys, and the results page with its chart."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import Date, DateTime, inspect, select, text

from app.assessment import surveys
from app.assessment.models import Survey, SurveyQuestionKind, SurveyReceipt, SurveyResponse
from app.assessment.surveys import SurveyError, ensure_survey
from app.clock import today
from app.db import db_session
from app.org.models import RoleName
from tests import factories


def ratings(survey: Survey, *values: int, comment: str = "") -> dict[str, str]:
    """Form fields: the scale questions rated in order, the first text question with a comment."""
    scale = [q for q in survey.questions if q.kind == SurveyQuestionKind.SCALE]
    written = [q for q in survey.questions if q.kind == SurveyQuestionKind.TEXT]
    fields = {f"q{q.id}": str(v) for q, v in zip(scale, values, strict=False)}
    if comment:
        fields[f"q{written[0].id}"] = comment
    return fields


def started(session) -> datetime:  # type: ignore[no-untyped-def]
    return session.starts_at + timedelta(hours=1)


@pytest.fixture
def course_with_learners(ctx):
    course = factories.course(survey_required=True)
    session = factories.training_session(course)
    people = [factories.employee() for _ in range(3)]
    enrolments = [factories.enrolment(person, session) for person in people]
    survey = ensure_survey(course)
    db_session.commit()
    return {"course": course, "session": session, "people": people, "enrolments": enrolments, "survey": survey}


def test_answering_creates_a_receipt_and_a_response(course_with_learners):
    c = course_with_learners
    survey, person, enrolment = c["survey"], c["people"][0], c["enrolments"][0]
    with time_machine.travel(started(c["session"]), tick=False):
        surveys.answer(person, enrolment, survey, ratings(survey, 5, 4, 3, 2, comment="実習が役立った"))
        answered_on = today()
    receipt = db_session.scalar(select(SurveyReceipt))
    response = db_session.scalar(select(SurveyResponse))
    assert (receipt.survey_id, receipt.enrolment_id, receipt.answered_on) == (survey.id, enrolment.id, answered_on)
    scale = [q for q in survey.questions if q.kind == SurveyQuestionKind.SCALE]
    written = [q for q in survey.questions if q.kind == SurveyQuestionKind.TEXT]
    assert response.answers == {str(scale[0].id): 5, str(scale[1].id): 4, str(scale[2].id): 3, str(scale[3].id): 2,
                                str(written[0].id): "実習が役立った"}  # the empty text question is left out
    assert response.session_id == c["session"].id and response.survey_id == survey.id
    assert surveys.has_answered(survey.id, enrolment.id)
    assert not surveys.has_answered(survey.id, c["enrolments"][1].id)


def test_an_anonymous_response_carries_nothing_that_identifies_the_person(course_with_learners):
    c = course_with_learners
    survey = c["survey"]
    assert survey.is_anonymous is True
    with time_machine.travel(started(c["session"]), tick=False):
        for person, enrolment in zip(c["people"], c["enrolments"], strict=True):
            surveys.answer(person, enrolment, survey, ratings(survey, 4, 4, 4, 4))
        answered_on = today()

    schema = inspect(db_session.connection())
    columns = {col["name"]: col["type"] for col in schema.get_columns("survey_responses")}
    assert set(columns) == {"id", "survey_id", "session_id", "employee_id", "answered_on", "answers"}
    assert not any(isinstance(kind, DateTime) for kind in columns.values())  # a date, never a time
    assert isinstance(columns["answered_on"], Date)
    receipt_columns = {col["name"] for col in schema.get_columns("survey_receipts")}
    assert receipt_columns == {"id", "survey_id", "enrolment_id", "answered_on"}
    linked = {fk["referred_table"] for fk in schema.get_foreign_keys("survey_responses")}
    assert linked == {"surveys", "training_sessions", "employees"}
    assert "survey_responses" not in {fk["referred_table"] for fk in schema.get_foreign_keys("survey_receipts")}

    rows = db_session.execute(text("SELECT id, employee_id, answered_on FROM survey_responses")).all()
    assert len(rows) == 3
    for response_id, employee_id, stored_on in rows:
        assert employee_id is None
        assert re.fullmatch(r"[0-9a-f]{32}", response_id)  # random, not a sequence
        assert str(stored_on) == answered_on.isoformat()  # the date alone, no time of day
    ids = [int(row[0], 16) for row in rows]
    assert len(set(ids)) == 3 and max(ids) - min(ids) > 1000
    for response in db_session.scalars(select(SurveyResponse)):
        assert type(response.answered_on) is date


def test_a_named_survey_stores_who_answered(course_with_learners):
    c = course_with_learners
    survey = c["survey"]
    survey.is_anonymous = False
    db_session.commit()
    with time_machine.travel(started(c["session"]), tick=False):
        surveys.answer(c["people"][0], c["enrolments"][0], survey, ratings(survey, 3, 3, 3, 3))
    assert db_session.scalar(select(SurveyResponse.employee_id)) == c["people"][0].id


def test_a_second_answer_is_refused(course_with_learners):
    c = course_with_learners
    survey, person, enrolment = c["survey"], c["people"][0], c["enrolments"][0]
    with time_machine.travel(started(c["session"]), tick=False):
        surveys.answer(person, enrolment, survey, ratings(survey, 5, 5, 5, 5))
        with pytest.raises(SurveyError, match="既に回答"):
            surveys.answer(person, enrolment, survey, ratings(survey, 1, 1, 1, 1))
    assert len(db_session.scalars(select(SurveyResponse)).all()) == 1
    assert len(db_session.scalars(select(SurveyReceipt)).all()) == 1


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
    assert db_session.scalar(select(SurveyResponse)) is None
    assert not surveys.has_answered(survey.id, enrolment.id)


def test_only_a_participant_of_a_started_session_answers(course_with_learners):
    c = course_with_learners
    survey, person, enrolment = c["survey"], c["people"][0], c["enrolments"][0]
    with pytest.raises(SurveyError, match="研修の開始後"):
        surveys.answer(person, enrolment, survey, ratings(survey, 5, 5, 5, 5))
    with time_machine.travel(started(c["session"]), tick=False):
        with pytest.raises(SurveyError, match="受講が確定した方のみ"):
            surveys.answer(c["people"][1], enrolment, survey, ratings(survey, 5, 5, 5, 5))


# --- through the pages -----------------------------------------------------------------------


@pytest.fixture
def survey_site(app):
    """Two sessions of one course: three participants in the first, one in the second."""
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        course = factories.course("SV-1", survey_required=True)
        first = factories.training_session(course, label="第1回")
        second = factories.training_session(course, label="第2回", starts_in=timedelta(days=15))
        people = [factories.employee() for _ in range(4)]
        enrolments = [factories.enrolment(p, first) for p in people[:3]] + [factories.enrolment(people[3], second)]
        survey = ensure_survey(course)
        db_session.commit()
        return {"hr": hr, "people": people, "enrolments": [e.id for e in enrolments], "survey": survey,
                "sessions": (first.id, second.id), "after": second.starts_at + timedelta(hours=2)}


def test_answering_through_the_page(app, client, survey_site):
    s = survey_site
    path = f"/enrolments/{s['enrolments'][0]}/survey"
    with time_machine.travel(s["after"], tick=False):
        factories.login_as(client, s["people"][0])
        page = client.get(path).get_data(as_text=True)
        assert "このアンケートは無記名です" in page and "研修全体の満足度" in page
        missing = factories.post(client, path, ratings(s["survey"], 4, 4), form_page=path)
        assert missing.status_code == 400
        assert "次の項目の評価を選んでください" in missing.get_data(as_text=True)
        response = factories.post(client, path, ratings(s["survey"], 4, 5, 3, 4, comment="演習が良かった"),
                                  form_page=path)
        assert response.status_code == 302 and response.headers["Location"] == f"/enrolments/{s['enrolments'][0]}"
        assert "アンケートへのご回答ありがとうございました" in client.get(response.headers["Location"]).get_data(as_text=True)
        again = client.get(path)
        assert again.status_code == 302
        assert "既に回答" in client.get(again.headers["Location"]).get_data(as_text=True)
        token = factories.csrf_token(client, f"/enrolments/{s['enrolments'][0]}")
        repeat = client.post(path, data={"csrf_token": token, **ratings(s["survey"], 1, 1, 1, 1)})
        assert repeat.status_code == 302
    with app.app_context():
        responses = db_session.scalars(select(SurveyResponse)).all()
        assert len(responses) == 1 and responses[0].employee_id is None
        assert sorted(responses[0].answers.values(), key=str) == sorted([4, 5, 3, 4, "演習が良かった"], key=str)


def test_someone_elses_survey_is_not_found(app, client, survey_site):
    factories.login_as(client, survey_site["people"][1])
    assert client.get(f"/enrolments/{survey_site['enrolments'][0]}/survey").status_code == 404


def answer_all(app, site, scores: dict[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The enrolments at these indexes answer, rating every scale question with their score."""
    from app.enrollment.models import Enrolment
    from app.org.models import Employee

    with app.app_context(), time_machine.travel(site["after"], tick=False):
        survey = db_session.get(Survey, site["survey"].id)
        for index, score in scores.items():
            enrolment = db_session.get(Enrolment, site["enrolments"][index])
            surveys.answer(db_session.get(Employee, enrolment.employee_id), enrolment, survey,
                           ratings(survey, score, score, score, score, comment=f"感想{score}"))
        db_session.commit()


def scale_rows(page: str, heading: str) -> tuple[str, list[tuple[str, str]]]:
    section = page.split(f"{heading}</h2>")[1].split("</section>")[0]
    return section, re.findall(r'<tr><td>(\d)</td><td class="num">(\d+)</td></tr>', section)


def test_results_show_the_response_rate_and_a_chart_with_numbers(app, client, survey_site):
    answer_all(app, survey_site, {0: 5, 1: 4, 3: 3})  # the third of the first session does not answer
    factories.login_as(client, survey_site["hr"])
    response = client.get("/catalog/design/SV-1/survey-results")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "回答 3 件／受講者 4 人（回答率 75%）" in page and "無記名" in page
    overall, counts = scale_rows(page, "研修全体の満足度")
    assert "<svg" in overall and 'role="img"' in overall
    assert counts == [("1", "0"), ("2", "0"), ("3", "1"), ("4", "1"), ("5", "1")]  # the numbers beside the chart
    assert '<td class="num">4.00</td>' in overall
    assert "感想5" in page and "感想3" in page


def test_results_can_be_filtered_by_session(app, client, survey_site):
    answer_all(app, survey_site, {0: 5, 1: 4, 3: 2})
    first, second = survey_site["sessions"]
    factories.login_as(client, survey_site["hr"])
    page = client.get(f"/catalog/design/SV-1/survey-results?session={first}").get_data(as_text=True)
    assert "回答 2 件／受講者 3 人（回答率 67%）" in page
    assert f'<option value="{first}" selected>' in page
    overall, counts = scale_rows(page, "研修全体の満足度")
    assert counts == [("1", "0"), ("2", "0"), ("3", "0"), ("4", "1"), ("5", "1")]
    assert '<td class="num">4.50</td>' in overall and "感想2" not in page
    page = client.get(f"/catalog/design/SV-1/survey-results?session={second}").get_data(as_text=True)
    assert "回答 1 件／受講者 1 人（回答率 100%）" in page
    assert '<td class="num">2.00</td>' in page and "感想5" not in page
    page = client.get("/catalog/design/SV-1/survey-results").get_data(as_text=True)
    assert "回答 3 件／受講者 4 人（回答率 75%）" in page


def test_results_are_for_hr_only(app, client, survey_site):
    factories.login_as(client, survey_site["people"][0])
    assert client.get("/catalog/design/SV-1/survey-results").status_code == 403
