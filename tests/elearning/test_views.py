"""The e-learning pages as a person uses them: open a module, read page by page (a look writes
nothing; the "next" button saves), leave and resume, take the quiz, get the certificate; HR's
files for the pages; pre-study on the participant list and the participant's own pages."""
from __future__ import annotations

import io
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.assessment.quizzes import quiz_for_course
from app.completion.models import Completion
from app.core.db import db_session
from app.elearning.models import Media
from app.org.models import RoleName
from tests import factories
from tests.db_snapshot import changed_tables, snapshot
from tests.elearning.conftest import QUIZ, elearning_course, module
from tests.querycount import count_statements

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _setup(app: Flask, *, pages: int = 3, quiz: bool = True):  # type: ignore[no-untyped-def]
    with app.app_context():
        person = factories.employee()
        body = "本文です。\n\n![図](media/figure.png) ![外部](https://example.com/x.png)"
        course = elearning_course(module(pages=pages, quiz=quiz, body=body), quiz=QUIZ if quiz else None)
        return person, course.code, course.id


def _post(client: FlaskClient, path: str, data: dict[str, str] | None = None, form_page: str | None = None):  # type: ignore[no-untyped-def]
    return factories.post(client, path, data, form_page=form_page or "/my-learning")


def test_a_module_taken_from_start_to_certificate(app: Flask, client: FlaskClient) -> None:
    person, code, course_id = _setup(app)
    factories.login_as(client, person)
    base = f"/learn/{code}/main"
    with app.app_context():
        before = snapshot()
    overview = client.get(base).get_data(as_text=True)
    first = client.get(f"{base}/pages/1").get_data(as_text=True)
    with app.app_context():
        assert changed_tables(before, snapshot()) == []  # looking writes nothing
    assert "学習を始める" in overview and "3 ページ中 0 ページ" in overview and "未着手" in overview
    assert f'src="/elearning-media/{code}/figure.png"' in first
    assert "example.com" not in first  # another host's image is dropped

    started = _post(client, f"{base}/start", form_page=base)
    assert started.status_code == 302 and started.headers["Location"].endswith(f"{base}/pages/1")
    response = _post(client, f"{base}/pages/1/read", form_page=f"{base}/pages/1")
    assert response.headers["Location"].endswith(f"{base}/pages/2")
    # Leave, come back: the module page offers to resume at page 2.
    overview = client.get(base).get_data(as_text=True)
    assert "2 ページ目から再開" in overview
    resumed = _post(client, f"{base}/start", form_page=base)
    assert resumed.headers["Location"].endswith(f"{base}/pages/2")
    for number in (2, 3):
        response = _post(client, f"{base}/pages/{number}/read", form_page=f"{base}/pages/{number}")
    assert response.headers["Location"].endswith(base)
    overview = client.get(base).get_data(as_text=True)
    assert f"{base}/quiz" in overview

    quiz_page = client.get(f"{base}/quiz").get_data(as_text=True)
    assert f'action="{base}/quiz/start"' in quiz_page
    assert _post(client, f"{base}/quiz/start", form_page=f"{base}/quiz").headers["Location"].endswith(f"{base}/quiz")
    with app.app_context():
        quiz = quiz_for_course(course_id)
        assert quiz is not None
        answers = {f"q{q.id}": ("1" if q.type.value == "single" else "false") for q in quiz.questions}
    submitted = _post(client, f"{base}/quiz", {"action": "submit", **answers}, form_page=f"{base}/quiz")
    assert submitted.headers["Location"].endswith(f"{base}/quiz/result")
    result = client.get(f"{base}/quiz/result").get_data(as_text=True)
    assert "合格" in result
    overview = client.get(base).get_data(as_text=True)
    with app.app_context():
        completion = db_session.scalar(select(Completion).where(Completion.employee_id == person.id,
                                                                Completion.course_id == course_id))
        assert completion is not None
    assert f"/certificates/{completion.certificate_code}" in overview
    assert client.get(f"/certificates/{completion.certificate_code}").status_code == 200
    my = client.get("/my-learning").get_data(as_text=True)
    assert f"/learn/{code}/main" in my and "修了" in my


def test_the_quiz_stays_closed_until_every_page_is_read(app: Flask, client: FlaskClient) -> None:
    person, code, _course_id = _setup(app)
    factories.login_as(client, person)
    base = f"/learn/{code}/main"
    _post(client, f"{base}/pages/1/read", form_page=f"{base}/pages/1")
    response = client.get(f"{base}/quiz")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{base}/quiz/result")
    refused = _post(client, f"{base}/quiz/start", form_page=base)
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "すべてのページを読んでください" in page


def test_unknown_modules_pages_and_drafts_are_not_found(app: Flask, client: FlaskClient) -> None:
    person, code, course_id = _setup(app, quiz=False)
    factories.login_as(client, person)
    assert client.get(f"/learn/{code}/nope").status_code == 404
    assert client.get(f"/learn/{code}/main/pages/9").status_code == 404
    assert client.get(f"/learn/{code}/main/quiz").status_code == 404  # this module has no quiz
    response = _post(client, f"/learn/{code}/main/pages/9/read", form_page=f"/learn/{code}/main")
    assert response.status_code == 302  # refused with a message, nothing saved
    with app.app_context():
        from app.catalog.models import Course, CourseStatus

        course = db_session.get(Course, course_id)
        assert course is not None
        course.status = CourseStatus.DRAFT
        db_session.commit()
    assert client.get(f"/learn/{code}/main").status_code == 404


def test_hr_uploads_a_file_that_the_pages_then_show(app: Flask, client: FlaskClient) -> None:
    person, code, course_id = _setup(app, quiz=False)
    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
    factories.login_as(client, hr)
    page = f"/catalog/design/{code}/media"
    token = factories.csrf_token(client, page)
    refused = client.post(page, data={"csrf_token": token, "file": (io.BytesIO(b"<svg onload=alert(1)>"), "x.svg")},
                          content_type="multipart/form-data")
    assert refused.status_code == 400 and "x.svg" in refused.get_data(as_text=True)
    renamed = client.post(page, data={"csrf_token": token, "file": (io.BytesIO(PNG), "図.png")},
                          content_type="multipart/form-data")
    assert renamed.status_code == 400 and "図.png" in renamed.get_data(as_text=True)  # pages need a plain name
    mismatch = client.post(page, data={"csrf_token": token, "file": (io.BytesIO(PNG), "figure.pdf")},
                           content_type="multipart/form-data")
    assert mismatch.status_code == 400
    stored = client.post(page, data={"csrf_token": token, "name": "figure.png", "file": (io.BytesIO(PNG), "図.png")},
                         content_type="multipart/form-data")
    assert stored.status_code == 302
    with app.app_context():
        assert [m.name for m in db_session.scalars(select(Media).where(Media.course_id == course_id))] == ["figure.png"]
    reader = app.test_client()
    factories.login_as(reader, person)
    with reader.get(f"/elearning-media/{code}/figure.png") as served:
        assert served.status_code == 200 and served.mimetype == "image/png" and served.data == PNG
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert reader.get(f"/elearning-media/{code}/other.png").status_code == 404
    assert reader.get(page).status_code == 403  # only the curriculum designers upload


def test_the_roster_and_the_enrolment_page_show_the_pre_study(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        course = elearning_course(module("prestudy", pages=2, before_session=True), delivery_format="blended")
        session = factories.training_session(course)
        done, waiting = factories.employee(name="事前 済子"), factories.employee(name="事前 未了")
        factories.enrolment(done, session)
        enrolment_id = factories.enrolment(waiting, session).id
        hr = factories.employee(roles=(RoleName.HR,))
        code, session_id = course.code, session.id
    learner = app.test_client()
    factories.login_as(learner, done)
    for number in (1, 2):
        _post(learner, f"/learn/{code}/prestudy/pages/{number}/read", form_page=f"/learn/{code}/prestudy")
    factories.login_as(client, hr)
    roster = client.get(f"/sessions/{session_id}/enrolments").get_data(as_text=True)
    rows = {name: row for row in re.findall(r"<tr>(.*?)</tr>", roster, re.S)
            for name in ("事前 済子", "事前 未了") if name in row}
    assert "事前学習" in roster
    assert "済" in rows["事前 済子"] and "未着手" in rows["事前 未了"]
    other = app.test_client()
    factories.login_as(other, waiting)
    detail = other.get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
    assert f"/learn/{code}/prestudy" in detail and "未着手" in detail
    my = other.get("/my-learning").get_data(as_text=True)
    assert f"/learn/{code}/prestudy" in my


def test_the_module_page_costs_the_same_statements_however_many_pages_and_attempts(app: Flask,
                                                                                   client: FlaskClient) -> None:
    person, small, _ = _setup(app, pages=2)
    _other, large, _ = _setup(app, pages=40)
    factories.login_as(client, person)
    for code, pages in ((small, 2), (large, 40)):
        for number in range(1, pages + 1):
            _post(client, f"/learn/{code}/main/pages/{number}/read", form_page=f"/learn/{code}/main")
    client.get(f"/learn/{small}/main")
    with count_statements(app) as few:
        client.get(f"/learn/{small}/main")
    with count_statements(app) as many:
        html = client.get(f"/learn/{large}/main").get_data(as_text=True)
    assert html.count('class="badge badge--ok">既読') == 40
    assert many.count == few.count <= 12, (few.count, many.statements)
    with count_statements(app) as listing:
        client.get("/my-learning")
    assert listing.count <= 12, listing.statements
