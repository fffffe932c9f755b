"""Publishing and retiring a course and switching an assignment rule off are previewed before
anything happens (issue 18): the first press shows what it affects (who sees the course, its
sessions and rules, the people a rule stops assigning) and the consequence in plain Japanese, and
changes nothing; the confirm applies it; a confirmation of a preview that no longer holds is
refused with a message and nothing is applied."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.catalog.models import Assignment, AssignmentRule, AssignmentStatus, Course, CourseStatus
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.confirming import confirm_form, press_confirm, text_of
from tests.querycount import count_statements

STALE = "プレビューの後にデータが変わったため、何も変更していません。"


@pytest.fixture
def hr(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        return factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))


def _status(app, code: str) -> CourseStatus:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.scalar(select(Course.status).where(Course.code == code))


def test_publishing_a_draft_is_previewed_then_confirmed(app, client, hr):
    with app.app_context():
        draft = factories.course("PUB-1", title_ja="公開前の研修", status="draft")
        factories.training_session(draft, capacity=12)
    factories.login_as(client, hr)
    preview = factories.post(client, "/catalog/design/PUB-1/publish", form_page="/catalog/courses/PUB-1")
    assert preview.status_code == 200 and _status(app, "PUB-1") == CourseStatus.DRAFT
    words = text_of(preview.get_data(as_text=True))
    assert "「公開前の研修」を公開しますか？" in words and "下書きには戻せません。" in words
    assert "申込 0 / 定員 12" in words  # its session ahead is listed
    assert "キャンセル（研修に戻る）" in words
    assert press_confirm(client, preview).status_code == 302
    assert _status(app, "PUB-1") == CourseStatus.PUBLISHED


def test_a_draft_edited_after_the_preview_is_not_published(app, client, hr):
    with app.app_context():
        factories.course("PUB-2", title_ja="公開前の研修2", status="draft")
    factories.login_as(client, hr)
    preview = factories.post(client, "/catalog/design/PUB-2/publish", form_page="/catalog/courses/PUB-2")
    with app.app_context():  # someone saves a new version meanwhile
        course = db_session.scalar(select(Course).where(Course.code == "PUB-2"))
        course.version += 1
        db_session.commit()
    refused = press_confirm(client, preview)
    assert refused.status_code == 409 and STALE in text_of(refused.get_data(as_text=True))
    assert _status(app, "PUB-2") == CourseStatus.DRAFT


def test_retiring_lists_its_sessions_and_rules_then_retires_on_confirmation(app, client, hr):
    with app.app_context():
        course = factories.course("RET-9", title_ja="廃止する研修")
        factories.training_session(course, label="秋の回")
        factories.employee(factories.unit(), "SHUNIN")
        factories.assignment_rule(course, "SHUNIN", fiscal_year=2020)
    factories.login_as(client, hr)
    preview = factories.post(client, "/catalog/design/RET-9/retire", form_page="/catalog/courses/RET-9")
    assert preview.status_code == 200 and _status(app, "RET-9") == CourseStatus.PUBLISHED
    page = preview.get_data(as_text=True)
    assert "秋の回" in text_of(page.split('id="retire-sessions"')[1].split("</ul>")[0])
    assert "人に指定" in text_of(page.split('id="retire-rules"')[1].split("</ul>")[0])
    assert "廃止すると、すぐに研修一覧から外れ" in text_of(page)
    assert press_confirm(client, preview).status_code == 302
    assert _status(app, "RET-9") == CourseStatus.RETIRED


def _rule(app) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("指定検証課")
        people = [factories.employee(division, "SHUNIN", name=f"指定 一郎{i}") for i in range(3)]
        rule = factories.assignment_rule(factories.course(grades=("SHUNIN",)), "SHUNIN")
        return rule.id, [p.name for p in people]


def _active(app, rule_id: int) -> bool:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.get(AssignmentRule, rule_id).is_active


def test_switching_a_rule_off_lists_who_stops_being_assigned_then_applies(app, client, hr):
    rule_id, names = _rule(app)
    factories.login_as(client, hr)
    preview = factories.post(client, f"/catalog/rules/{rule_id}/deactivate", form_page="/catalog/rules")
    assert preview.status_code == 200 and _active(app, rule_id)
    page = preview.get_data(as_text=True)
    listed = text_of(page.split('id="withdrawn"')[1].split("</table>")[0])
    assert all(name in listed for name in names)
    words = text_of(page)
    assert "ルールの停止は取り消せません" in words and "キャンセル（ルール一覧に戻る）" in words
    assert confirm_form(page)[0] == f"/catalog/rules/{rule_id}/deactivate"
    assert press_confirm(client, preview).status_code == 302
    assert not _active(app, rule_id)
    with app.app_context():
        assert set(db_session.scalars(select(Assignment.status).where(Assignment.rule_id == rule_id))) == {
            AssignmentStatus.WITHDRAWN}


def test_a_rule_that_assigned_someone_new_after_the_preview_stays_on(app, client, hr):
    rule_id, _names = _rule(app)
    factories.login_as(client, hr)
    preview = factories.post(client, f"/catalog/rules/{rule_id}/deactivate", form_page="/catalog/rules")
    with app.app_context():  # a newcomer of the grade is assigned meanwhile
        from app.catalog.services import evaluate_rule

        factories.employee(factories.unit(), "SHUNIN", name="新任 五郎")
        evaluate_rule(db_session.get(AssignmentRule, rule_id))
        db_session.commit()
    refused = press_confirm(client, preview)
    assert refused.status_code == 409
    words = text_of(refused.get_data(as_text=True))
    assert STALE in words and "新任 五郎" in words  # the new preview names them
    assert _active(app, rule_id)


def test_the_switch_off_preview_costs_a_fixed_number_of_statements(app, client, hr):
    rule_id, _names = _rule(app)
    factories.login_as(client, hr)
    counts = []
    for more in (0, 25):
        with app.app_context():
            from app.catalog.services import evaluate_rule

            division = factories.unit()
            for _ in range(more):
                factories.employee(division, "SHUNIN")
            evaluate_rule(db_session.get(AssignmentRule, rule_id))
            db_session.commit()
        token = factories.csrf_token(client, "/catalog/rules")
        with count_statements(app) as counter:
            response = client.post(f"/catalog/rules/{rule_id}/deactivate", data={"csrf_token": token})
        assert response.status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1] and counts[1] <= 10, counts
