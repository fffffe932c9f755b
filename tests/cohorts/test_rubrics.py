"""Rubrics per milestone: defined in the programme's file (courses/smart-2020.md), stored with
the programme, edited by HR on the web (a web edit the catalog sync then refuses to overwrite),
shown to the team before they submit, scored criterion by criterion by the mentor (audited), and
the scores shown to the team afterwards."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.catalog.cli import DEFAULT_DIR
from app.catalog.models import Course
from app.catalog.services import save_rubric, sync_catalog
from app.cohorts import queries, services
from app.cohorts.models import Cohort, Decision, MilestoneKind, Review, SubmissionStatus
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit
from tests import factories
from tests.cohorts.conftest import Org, apply_for, decide, flashes, person, signed_in, submissions_of, work_post


@dataclass
class Smart:
    cohort_id: int
    team_id: int
    member: Employee
    mentor: Employee
    plan_id: int
    programme_id: int


@pytest.fixture
def smart(app: Flask, org: Org) -> Smart:
    """A cohort of the real SMART-2020 programme synced from courses/, one team and its mentor."""
    with app.app_context():
        assert sync_catalog(DEFAULT_DIR).ok
        db_session.commit()
        programme = db_session.scalar(select(Course).where(Course.code == "SMART-2020"))
        assert programme is not None
        start = now() - timedelta(days=1)
        settings = services.CohortSettings(name="第1期", fiscal_year=2026, applications_open_at=start,
                                           applications_close_at=start + timedelta(days=10), quota=4,
                                           requires_endorsement=False, questions=[])
        cohort = services.open_cohort(person(org.hr.id), programme, settings, [], {})
        db_session.commit()
        member = org.staff_a[0]
        decide(org.hr.id, apply_for(cohort.id, member.id), Decision.SELECTED)
        mentor = factories.employee(factories.unit("外部メンター"), "KACHO", roles=(RoleName.MENTOR,),
                                    name="指導 先生", number="EXT0100")
        team = services.form_team(person(org.hr.id), db_session.get(Cohort, cohort.id), "チーム甲",
                                  db_session.get(Unit, org.division_b), "smart_government", "課題",
                                  [person(member.id)], [person(mentor.id)])
        db_session.commit()
        plan = next(m.id for m in queries.milestones(cohort.id) if m.kind == MilestoneKind.PLAN)
        return Smart(cohort.id, team.id, member, mentor, plan, programme.id)


def _review_path(app: Flask, smart: Smart) -> str:
    with app.app_context():
        return f"/cohorts/submissions/{submissions_of(smart.team_id)[-1].id}"


def test_the_team_sees_the_file_rubric_before_submitting_and_the_mentor_scores_it(app, smart):
    team_client = signed_in(app, smart.member)
    work_page = team_client.get(f"/cohorts/{smart.cohort_id}/work").get_data(as_text=True)
    for text in ("評価基準", "課題の把握", "計画の実現性", "役割分担",
                 "受入所属の実際の課題を、現場の声やデータを根拠に具体的に捉えている"):
        assert text in work_page
    work_post(team_client, smart.cohort_id, smart.plan_id, "計画書 第1版")
    path = _review_path(app, smart)
    before_review = team_client.get(path).get_data(as_text=True)
    assert "課題の把握" in before_review and 'name="criterion-0"' not in before_review  # shown, not scorable

    mentor_client = signed_in(app, smart.mentor)
    form = mentor_client.get(path).get_data(as_text=True)
    assert all(f'name="criterion-{i}"' in form for i in range(3)) and 'name="criterion-3"' not in form
    assert "課題の把握" in form and "手順と日程は示されているが、調整が一部済んでいない" in form

    response = factories.post(mentor_client, path, {"decision": "accept", "comment": "よくできています",
                                                    "criterion-0": "0", "criterion-1": "1", "criterion-2": "3"},
                              form_page=path)
    assert response.status_code == 302
    assert ("success", "確認結果を保存しました。") in flashes(mentor_client.get(path).get_data(as_text=True))
    with app.app_context():
        (review,) = db_session.scalars(select(Review))
        assert (review.scores, review.points, review.max_points) == ({"0": 0, "1": 1, "2": 3}, 4 + 3 + 0, 12)
        assert [c["name"] for c in review.rubric] == ["課題の把握", "計画の実現性", "役割分担"]
        assert submissions_of(smart.team_id)[-1].status == SubmissionStatus.ACCEPTED
        audited = db_session.scalar(select(AuditEvent.after).where(AuditEvent.action == "cohorts.reviewed"))
        assert audited["scores"] == {"課題の把握": "十分", "計画の実現性": "概ね", "役割分担": "不十分"}

    scores_page = team_client.get(path).get_data(as_text=True)
    assert "12点中7点" in scores_page
    for text in ("観点ごとの評価", "役割分担が示されていない", "3 / 4"):
        assert text in scores_page


def test_a_missing_score_is_refused_and_nothing_is_stored(app, smart):
    work_post(signed_in(app, smart.member), smart.cohort_id, smart.plan_id, "計画書")
    path = _review_path(app, smart)
    mentor_client = signed_in(app, smart.mentor)
    factories.post(mentor_client, path, {"decision": "accept", "criterion-0": "0", "criterion-2": "1"},
                   form_page=path)
    assert ("error", "すべての観点を評価してください：計画の実現性。") in flashes(
        mentor_client.get(path).get_data(as_text=True))
    with app.app_context():
        assert db_session.scalars(select(Review)).all() == []


def test_hr_edits_a_rubric_with_field_errors_then_saves_and_sync_refuses_to_overwrite(app, runner, org, smart):
    hr_client = signed_in(app, org.hr)
    path = f"/cohorts/{smart.cohort_id}/rubrics/interim"
    page = hr_client.get(path).get_data(as_text=True)
    assert 'value="調査・分析"' in page
    assert 'value="ヒアリング・業務観察・データに基づき、課題の原因を分析している"' in page

    bad = {"c0-name": "課題の分析", "c0-l0-label": "十分", "c0-l0-points": "百", "c0-l0-description": "根拠がある",
           "c0-l1-label": "不十分", "c0-l1-points": "0", "c0-l1-description": "",
           "c1-name": "", "c1-l0-label": "A", "c1-l0-points": "1", "c1-l0-description": "説明"}
    response = factories.post(hr_client, path, bad, form_page=path)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "観点1 水準1 の点数: 0から100までの整数を入力してください。" in text
    assert "観点1 水準2 の説明: この水準に当たる内容を書いてください。" in text
    assert "観点2 の名前: 観点の名前を入力してください。" in text
    with app.app_context():
        assert db_session.get(Course, smart.programme_id).rubrics["interim"][0]["name"] == "調査・分析"

    good = {"c0-name": "課題の分析", "c0-l0-label": "十分", "c0-l0-points": "５", "c0-l0-description": "根拠がある",
            "c0-l1-label": "不十分", "c0-l1-points": "0", "c0-l1-description": "根拠がない"}
    response = factories.post(hr_client, path, good, form_page=path)
    assert response.status_code == 302
    assert ("success", "中間報告の評価基準を保存しました（観点 1 件）。") in flashes(
        hr_client.get(response.headers["Location"]).get_data(as_text=True))
    with app.app_context():
        programme = db_session.get(Course, smart.programme_id)
        assert programme.rubrics["interim"] == [{"name": "課題の分析", "levels": [
            {"label": "十分", "points": 5, "description": "根拠がある"},
            {"label": "不十分", "points": 0, "description": "根拠がない"}]}]
        assert list(programme.rubrics) == ["plan", "interim", "final_report", "presentation"]
        assert programme.web_edited_by_id == org.hr.id and programme.version == 2
        assert db_session.scalar(select(AuditEvent.after).where(
            AuditEvent.action == "catalog.rubric_edited"))["criteria"][0]["name"] == "課題の分析"

    refused = runner.invoke(args=["catalog", "sync"])
    assert refused.exit_code == 1
    assert "SMART-2020 (smart-2020.md): edited on the web by 人事 担当 on " in refused.output


def test_removing_every_criterion_removes_the_rubric(app, org, smart):
    hr_client = signed_in(app, org.hr)
    path = f"/cohorts/{smart.cohort_id}/rubrics/plan"
    response = factories.post(hr_client, path, {}, form_page=path)
    assert response.status_code == 302
    with app.app_context():
        assert "plan" not in db_session.get(Course, smart.programme_id).rubrics
    # the team then submits, and the mentor accepts without scores
    work_post(signed_in(app, smart.member), smart.cohort_id, smart.plan_id, "計画書")
    path = _review_path(app, smart)
    mentor_client = signed_in(app, smart.mentor)
    assert 'name="criterion-0"' not in mentor_client.get(path).get_data(as_text=True)
    factories.post(mentor_client, path, {"decision": "accept"}, form_page=path)
    with app.app_context():
        (review,) = db_session.scalars(select(Review))
        assert review.rubric == [] and review.max_points == 0


def test_a_rubric_changed_while_the_mentor_reviews_is_not_misread(app, org, smart):
    work_post(signed_in(app, smart.member), smart.cohort_id, smart.plan_id, "計画書")
    path = _review_path(app, smart)
    mentor_client = signed_in(app, smart.mentor)
    token = factories.csrf_token(mentor_client, path)  # the form as drawn, with the rubric's version
    page = mentor_client.get(path).get_data(as_text=True)
    version = page.split('name="rubric_version" value="')[1].split('"')[0]
    with app.app_context():
        programme = db_session.get(Course, smart.programme_id)
        swapped = list(reversed(programme.rubrics["plan"]))
        save_rubric(person(org.hr.id), programme, "plan", swapped)
        db_session.commit()
    response = mentor_client.post(path, data={"csrf_token": token, "decision": "accept", "rubric_version": version,
                                              "criterion-0": "0", "criterion-1": "0", "criterion-2": "3"})
    assert response.status_code == 302
    assert ("error", "確認中にこのマイルストーンの評価基準が変更されました。もう一度評価してください。") in flashes(
        mentor_client.get(path).get_data(as_text=True))
    with app.app_context():
        assert db_session.scalars(select(Review)).all() == []


def test_hr_rubric_page_refuses_an_unknown_milestone(app, org, smart):
    assert signed_in(app, org.hr).get(f"/cohorts/{smart.cohort_id}/rubrics/review").status_code == 404
    assert signed_in(app, smart.member).get(f"/cohorts/{smart.cohort_id}/rubrics/plan").status_code == 403
