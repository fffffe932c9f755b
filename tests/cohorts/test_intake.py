"""The intake of a cohort: applying (statement, theme, answers; edit and withdraw while the window
is open; eligible grades), the manager's endorsement, selection within the quota and the
department caps, reserves promoted after a withdrawal, and publishing the results."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.cohorts import services
from app.cohorts.models import Application, Cohort, Decision, DepartmentCap, Endorsement
from app.core.db import db_session
from app.org.models import RoleName, Unit
from app.reminders.models import Notification
from tests import factories
from tests.cohorts.conftest import THEME, application, apply_for, person, selected_count, signed_in
from tests.confirming import press_confirm, text_of

_FLASH = re.compile(r'<p class="flash flash--(\w+)"[^>]*>(.*?)</p>', re.S)


def flashes(page: str) -> list[tuple[str, str]]:
    return [(category, html.unescape(text).strip()) for category, text in _FLASH.findall(page)]


def post_and_follow(client: FlaskClient, path: str, data: dict) -> str:  # type: ignore[type-arg]
    """POST the form on `path`, expect POST/redirect/GET, and return the page redirected to."""
    response = factories.post(client, path, data, form_page=path)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client.get(response.headers["Location"]).get_data(as_text=True)


# --- selection within the quota and the caps (service level) --------------------------------


def test_selecting_beyond_the_quota_is_refused_naming_the_quota(ctx, org):
    cohort = factories.cohort(quota=2)
    ids = [apply_for(cohort.id, p.id) for p in (*org.staff_a[:2], org.staff_b[0])]
    hr = person(org.hr.id)
    for application_id in ids[:2]:
        services.decide(hr, db_session.get(Application, application_id), Decision.SELECTED)
    db_session.commit()

    with pytest.raises(services.CohortError, match="定員 2 人"):
        services.decide(hr, db_session.get(Application, ids[2]), Decision.SELECTED)
    db_session.rollback()

    assert selected_count(cohort.id) == 2
    assert application(ids[2]).decision == Decision.UNDECIDED
    assert db_session.scalar(select(func.count()).select_from(Application).where(
        Application.cohort_id == cohort.id, Application.decision == Decision.SELECTED)) == 2


def test_a_full_department_cap_is_refused_and_the_quota_place_is_given_back(ctx, org):
    dept_a = db_session.get(Unit, org.dept_a)
    cohort = factories.cohort(quota=3, caps={dept_a: 1})
    a1, a2 = (apply_for(cohort.id, p.id) for p in org.staff_a[:2])
    b1, b2 = (apply_for(cohort.id, p.id) for p in org.staff_b[:2])
    assert application(a1).department_id == org.dept_a  # the department, not the division
    hr = person(org.hr.id)
    services.decide(hr, db_session.get(Application, a1), Decision.SELECTED)
    db_session.commit()

    with pytest.raises(services.CohortError, match="上限 1 人"):
        services.decide(hr, db_session.get(Application, a2), Decision.SELECTED)
    db_session.rollback()

    cap = db_session.scalar(select(DepartmentCap).where(DepartmentCap.cohort_id == cohort.id)
                            .execution_options(populate_existing=True))
    assert (selected_count(cohort.id), cap.selected_count) == (1, 1)  # the quota place came back
    assert application(a2).decision == Decision.UNDECIDED
    for application_id in (b1, b2):  # so the other department can still fill the quota
        services.decide(hr, db_session.get(Application, application_id), Decision.SELECTED)
    db_session.commit()
    assert selected_count(cohort.id) == 3

    # undoing a selection gives back both the quota place and the cap place
    services.decide(hr, db_session.get(Application, a1), Decision.UNDECIDED)
    services.decide(hr, db_session.get(Application, a2), Decision.SELECTED)
    db_session.commit()
    db_session.refresh(cap)
    assert (selected_count(cohort.id), cap.selected_count) == (3, 1)
    assert application(a1).decision == Decision.UNDECIDED and application(a2).decision == Decision.SELECTED


def test_an_applicant_without_endorsement_cannot_be_selected(ctx, org):
    cohort = factories.cohort(quota=3)
    pending = apply_for(cohort.id, org.staff_a[0].id, endorse=False)
    declined = apply_for(cohort.id, org.staff_a[1].id, endorse=False)
    services.endorse(person(org.manager_a.id), db_session.get(Application, declined), False, "今年度は業務繁忙のため")
    db_session.commit()
    hr = person(org.hr.id)
    for application_id, name in ((pending, org.staff_a[0].name), (declined, org.staff_a[1].name)):
        with pytest.raises(services.CohortError, match=f"{name} さんは所属長の推薦を受けていません"):
            services.decide(hr, db_session.get(Application, application_id), Decision.SELECTED)
        db_session.rollback()
    assert selected_count(cohort.id) == 0


def test_hr_sees_a_clear_message_when_selecting_an_unendorsed_applicant(app, org):
    with app.app_context():
        cohort_id = factories.cohort(quota=3).id
        pending = apply_for(cohort_id, org.staff_a[0].id, endorse=False)
    hr = signed_in(app, org.hr)
    path = f"/cohorts/{cohort_id}/selection"
    page = post_and_follow(hr, path, {"action": "selected", "application_id": str(pending)})
    assert ("error", f"{org.staff_a[0].name} さんは所属長の推薦を受けていません。") in flashes(page)
    with app.app_context():
        assert application(pending).decision == Decision.UNDECIDED
        assert selected_count(cohort_id) == 0


# --- endorsement ------------------------------------------------------------------------------


def test_a_manager_endorses_only_their_own_staff_and_the_comment_is_kept(app, org):
    with app.app_context():
        cohort_id = factories.cohort().id
        mine = apply_for(cohort_id, org.staff_a[0].id, endorse=False)
        theirs = apply_for(cohort_id, org.staff_b[0].id, endorse=False)
    path = "/cohorts/endorsements"

    manager_b = signed_in(app, org.manager_b)
    listed = manager_b.get(path).get_data(as_text=True)
    assert org.staff_b[0].name in listed and org.staff_a[0].name not in listed
    response = factories.post(manager_b, path, {"application_id": str(mine), "decision": "endorse",
                                                 "comment": "推薦します"}, form_page=path)
    assert response.status_code == 403
    with app.app_context():
        untouched = application(mine)
        assert untouched.endorsement == Endorsement.PENDING and untouched.endorsed_by_id is None

    manager_a = signed_in(app, org.manager_a)
    page = post_and_follow(manager_a, path, {"application_id": str(mine), "decision": "endorse",
                                             "comment": "  業務改善への意欲が高く、推薦します。  "})
    assert ("success", "判断を記録しました。") in flashes(page)
    assert org.staff_a[0].name not in page  # no longer waiting
    with app.app_context():
        endorsed = application(mine)
        assert endorsed.endorsement == Endorsement.ENDORSED
        assert endorsed.endorsed_by_id == org.manager_a.id
        assert endorsed.endorsement_comment == "業務改善への意欲が高く、推薦します。"
        assert application(theirs).endorsement == Endorsement.PENDING

    # the applicant reads the comment; a plain employee cannot open the endorsement page
    applicant = signed_in(app, org.staff_a[0])
    assert "業務改善への意欲が高く、推薦します。" in applicant.get(f"/cohorts/{cohort_id}").get_data(as_text=True)
    assert applicant.get(path).status_code == 403


# --- applications -----------------------------------------------------------------------------


def test_apply_with_statement_theme_and_answers_then_edit_and_withdraw(app, org):
    with app.app_context():
        cohort_id = factories.cohort().id
    client = signed_in(app, org.staff_a[0])
    path = f"/cohorts/{cohort_id}"

    refused = factories.post(client, path, {"statement": "志望動機", "theme": "general", "answer-0": "回答"},
                             form_page=path)
    assert refused.status_code == 400
    assert ("error", "3つのテーマから1つ選んでください。") in flashes(refused.get_data(as_text=True))
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Application).where(
            Application.cohort_id == cohort_id)) == 0

    page = post_and_follow(client, path, {"statement": "  窓口業務のデジタル化に取り組みたい。 ",
                                          "theme": "smart_workstyle", "answer-0": "申請書の電子化"})
    assert ("success", "応募ありがとうございます。所属長に推薦を依頼しました。") in flashes(page)
    with app.app_context():
        row = db_session.scalar(select(Application).where(Application.cohort_id == cohort_id))
        assert (row.statement, row.theme, row.answers) == ("窓口業務のデジタル化に取り組みたい。", "smart_workstyle",
                                                          ["申請書の電子化"])
        assert row.employee_id == org.staff_a[0].id and row.department_id == org.dept_a
        assert row.endorsement == Endorsement.PENDING and not row.is_withdrawn
        application_id = row.id
        asked = db_session.scalar(select(Notification).where(Notification.kind == "cohort_endorsement_requested",
                                                             Notification.context["application_id"].as_integer()
                                                             == application_id))
        assert asked is not None and asked.recipient_id == org.manager_a.id

    wrong = factories.post(client, path, {"statement": "変更", "theme": "smart_talent", "answer-0": "x"},
                           form_page=path)
    assert wrong.status_code == 400
    page = post_and_follow(client, path, {"statement": "現場の課題を解決したい。", "theme": "smart_solutions",
                                          "answer-0": "道路点検の効率化"})
    assert ("success", "応募内容を更新しました。") in flashes(page)
    with app.app_context():
        row = application(application_id)
        assert (row.statement, row.theme, row.answers) == ("現場の課題を解決したい。", "smart_solutions",
                                                          ["道路点検の効率化"])

    page = post_and_follow(client, path, {"action": "withdraw"})
    assert ("success", "応募を取り下げました。") in flashes(page)
    with app.app_context():
        assert application(application_id).is_withdrawn


def test_after_the_window_closes_an_application_cannot_be_changed_or_withdrawn(app, org):
    with app.app_context():
        cohort = factories.cohort(open_for=timedelta(days=5))
        cohort_id, closes_at = cohort.id, cohort.applications_close_at
        application_id = apply_for(cohort_id, org.staff_a[0].id)
    path = f"/cohorts/{cohort_id}"
    with time_machine.travel(closes_at + timedelta(minutes=1), tick=False):
        client = signed_in(app, org.staff_a[0])
        edit = factories.post(client, path, {"statement": "締切後の変更", "theme": THEME, "answer-0": "x"},
                              form_page=path)
        assert edit.status_code == 400
        assert ("error", "応募は締め切られたため、内容を変更できません。") in flashes(edit.get_data(as_text=True))
        withdraw = factories.post(client, path, {"action": "withdraw"}, form_page=path)
        assert withdraw.status_code == 400
        assert ("error", "応募は締め切られました。辞退する場合は人事課に連絡してください。") in flashes(
            withdraw.get_data(as_text=True))
        late = signed_in(app, org.staff_a[1])
        new = factories.post(late, path, {"statement": "遅れて応募", "theme": THEME, "answer-0": "x"}, form_page=path)
        assert new.status_code == 400
        assert ("error", "応募を受け付けていません。") in flashes(new.get_data(as_text=True))
    with app.app_context():
        row = application(application_id)
        assert row.statement == f"{org.staff_a[0].name}の志望動機" and not row.is_withdrawn
        assert db_session.scalar(select(func.count()).select_from(Application).where(
            Application.cohort_id == cohort_id)) == 1


def test_an_ineligible_grade_cannot_apply(app, org):
    with app.app_context():
        cohort_id = factories.cohort(grades=("SHUNIN", "SHUSA")).id
        junior = factories.employee(db_session.get(Unit, org.division_a), "SHUJI")
    client = signed_in(app, junior)
    path = f"/cohorts/{cohort_id}"
    response = factories.post(client, path, {"statement": "応募します", "theme": THEME, "answer-0": "x"},
                              form_page=path)
    assert response.status_code == 400
    assert ("error", "あなたの職級はこの期の応募対象ではありません。") in flashes(response.get_data(as_text=True))
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Application).where(
            Application.cohort_id == cohort_id)) == 0


# --- reserves and results ---------------------------------------------------------------------


def test_a_withdrawal_names_the_first_reserve_and_promoting_fills_the_place(app, org):
    with app.app_context():
        cohort_id = factories.cohort(quota=2).id
        chosen = [apply_for(cohort_id, p.id) for p in org.staff_a[:2]]
        reserves = [apply_for(cohort_id, p.id) for p in org.staff_b[:2]]
    hr = signed_in(app, org.hr)
    path = f"/cohorts/{cohort_id}/selection"
    for application_id in chosen:
        post_and_follow(hr, path, {"action": "selected", "application_id": str(application_id)})
    for application_id in reserves:
        post_and_follow(hr, path, {"action": "reserve", "application_id": str(application_id)})
    with app.app_context():
        assert [application(i).reserve_rank for i in reserves] == [1, 2]
        assert selected_count(cohort_id) == 2

    page = post_and_follow(hr, path, {"action": "promote", "application_id": str(reserves[0])})
    assert ("error", "定員 2 人に達しています。") in flashes(page)  # no place to promote into yet

    page = post_and_follow(hr, path, {"action": "withdraw", "application_id": str(chosen[0]), "reason": "異動のため"})
    first_reserve = org.staff_b[0].name
    assert ("success", f"{org.staff_a[0].name} さんの辞退を記録しました。補欠1位は {first_reserve} さんです。"
                       "繰り上げて枠を埋めてください。") in flashes(page)
    assert f"補欠1位：{first_reserve} さん" in page
    with app.app_context():
        withdrawn = application(chosen[0])
        assert withdrawn.is_withdrawn and withdrawn.decision == Decision.DECLINED
        assert selected_count(cohort_id) == 1

    page = post_and_follow(hr, path, {"action": "promote", "application_id": str(reserves[0])})
    assert ("success", f"{first_reserve} さんを選考しました。") in flashes(page)
    assert f"補欠1位：{org.staff_b[1].name} さん" in page
    with app.app_context():
        promoted = application(reserves[0])
        assert promoted.decision == Decision.SELECTED and promoted.reserve_rank is None
        assert application(reserves[1]).decision == Decision.RESERVE
        assert selected_count(cohort_id) == 2
        assert db_session.scalar(select(func.count()).select_from(Application).where(
            Application.cohort_id == cohort_id, Application.decision == Decision.SELECTED,
            Application.is_withdrawn.is_(False))) == 2


def test_publishing_the_results_queues_a_result_notice_for_each_applicant(app, org):
    with app.app_context():
        cohort = factories.cohort(quota=1, open_for=timedelta(days=3))
        cohort_id, closes_at = cohort.id, cohort.applications_close_at
        selected, reserve, declined = (apply_for(cohort_id, p.id) for p in (*org.staff_a[:2], org.staff_b[0]))
        gone = apply_for(cohort_id, org.staff_b[1].id)
        services.withdraw_application(person(org.staff_b[1].id), db_session.get(Application, gone))
        db_session.commit()
        for application_id, decision in ((selected, Decision.SELECTED), (reserve, Decision.RESERVE),
                                         (declined, Decision.DECLINED)):
            services.decide(person(org.hr.id), db_session.get(Application, application_id), decision)
        db_session.commit()
    path = f"/cohorts/{cohort_id}/selection"

    def result_notices() -> list[Notification]:
        return list(db_session.scalars(select(Notification).where(Notification.kind == "cohort_result")))

    hr = signed_in(app, org.hr)
    page = post_and_follow(hr, path, {"action": "publish"})
    assert ("error", "選考結果は応募締切後に公表してください。") in flashes(page)
    with app.app_context():
        assert db_session.get(Cohort, cohort_id).results_published_at is None
        assert result_notices() == []

    with time_machine.travel(closes_at + timedelta(hours=1), tick=False):
        hr = signed_in(app, org.hr)
        preview = factories.post(hr, path, {"action": "publish"}, form_page=path)
        assert preview.status_code == 200  # first who is told what: nothing published, nobody told yet
        words = text_of(preview.get_data(as_text=True))
        assert "選考結果の公表は取り消せません。下の応募者 3 人全員に" in words
        assert "キャンセル（選考の画面に戻る）" in words
        with app.app_context():
            assert db_session.get(Cohort, cohort_id).results_published_at is None and result_notices() == []
        confirmed = press_confirm(hr, preview)
        assert confirmed.status_code == 302
        page = hr.get(confirmed.headers["Location"]).get_data(as_text=True)
        assert ("success", "選考結果を公表し、応募者 3 人に通知します。") in flashes(page)
        with app.app_context():
            notices = result_notices()
            assert sorted(n.recipient_id for n in notices) == sorted(
                [org.staff_a[0].id, org.staff_a[1].id, org.staff_b[0].id])
            assert {n.context["application_id"] for n in notices} == {selected, reserve, declined}
            assert db_session.get(Cohort, cohort_id).results_published_at is not None
        page = post_and_follow(hr, path, {"action": "publish"})
        assert ("error", "選考結果は既に公表されています。") in flashes(page)
        with app.app_context():
            assert len(result_notices()) == 3


def test_only_hr_opens_the_selection(app, org):
    with app.app_context():
        cohort_id = factories.cohort().id
    assert signed_in(app, org.staff_a[0]).get(f"/cohorts/{cohort_id}/selection").status_code == 403
    assert signed_in(app, org.manager_a).get(f"/cohorts/{cohort_id}/selection").status_code == 403
    assert signed_in(app, org.hr).get(f"/cohorts/{cohort_id}/selection").status_code == 200


def test_hr_never_decides_its_own_application(ctx, org):
    """Issue 14: nobody decides their own request at any stage. An HR officer who applies is
    selected, promoted or withdrawn by a colleague, never by themselves."""
    cohort = factories.cohort(quota=2, grades=("SHUSA",), requires_endorsement=False)
    me = person(org.hr.id)
    colleague = factories.employee(me.unit, "SHUSA", roles=(RoleName.HR,))
    mine = apply_for(cohort.id, me.id)
    for attempt in (lambda a: services.decide(me, a, Decision.SELECTED),
                    lambda a: services.promote_reserve(me, a),
                    lambda a: services.withdraw_participant(me, a, "辞退")):
        with pytest.raises(services.CohortError, match=r"ご自身の応募|your own application"):
            attempt(db_session.get(Application, mine))
        db_session.rollback()
    services.decide(colleague, db_session.get(Application, mine), Decision.SELECTED)
    db_session.commit()
    assert application(mine).decision == Decision.SELECTED


def test_results_changed_after_the_preview_are_not_published(app, org):
    with app.app_context():
        cohort = factories.cohort(quota=2, open_for=timedelta(days=3))
        cohort_id, closes_at = cohort.id, cohort.applications_close_at
        first, second = (apply_for(cohort_id, p.id) for p in org.staff_a[:2])
        services.decide(person(org.hr.id), db_session.get(Application, first), Decision.SELECTED)
        db_session.commit()
    path = f"/cohorts/{cohort_id}/selection"
    with time_machine.travel(closes_at + timedelta(hours=1), tick=False):
        hr = signed_in(app, org.hr)
        preview = factories.post(hr, path, {"action": "publish"}, form_page=path)
        assert preview.status_code == 200
        with app.app_context():  # another HR officer selects the second applicant meanwhile
            services.decide(person(org.hr.id), db_session.get(Application, second), Decision.SELECTED)
            db_session.commit()
        refused = press_confirm(hr, preview)
        assert refused.status_code == 409
        page = refused.get_data(as_text=True)
        assert "プレビューの後にデータが変わったため、何も変更していません。" in text_of(page)
        selected = text_of(page.split('id="results-selected"')[1].split("</section>")[0])
        assert all(p.name in selected for p in org.staff_a[:2])  # the new preview
        with app.app_context():
            assert db_session.get(Cohort, cohort_id).results_published_at is None


def test_the_results_preview_costs_a_fixed_number_of_statements(app, org):
    from tests.querycount import count_statements

    with app.app_context():
        cohort = factories.cohort(quota=9, open_for=timedelta(days=3))
        cohort_id, closes_at = cohort.id, cohort.applications_close_at
    path = f"/cohorts/{cohort_id}/selection"
    counts = []
    with time_machine.travel(closes_at + timedelta(hours=1), tick=False):
        hr = signed_in(app, org.hr)
        for people in (org.staff_a[:1], [*org.staff_a[1:], *org.staff_b]):
            with time_machine.travel(closes_at - timedelta(hours=1), tick=False), app.app_context():
                for p in people:
                    apply_for(cohort_id, p.id)
                db_session.commit()
            token = factories.csrf_token(hr, path)
            with count_statements(app) as counter:
                response = hr.post(path, data={"csrf_token": token, "action": "publish"})
            assert response.status_code == 200 and people[-1].name in response.get_data(as_text=True)
            counts.append(counter.count)
    assert counts[0] == counts[1] and counts[1] <= 10, counts
