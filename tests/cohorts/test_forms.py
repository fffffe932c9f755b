"""The cohort pages' forms (app/cohorts/forms.py) through real requests, CSRF on: a refused POST
answers 400 with an error next to the field that names the field and says why, and changes
nothing; the fiscal year of a new cohort comes from app/core/fiscal.py."""
from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy import func, select

from app.cohorts.models import (
    Application,
    Cohort,
    Endorsement,
    FieldworkTeam,
    Milestone,
    MilestoneKind,
    Review,
    SubmissionStatus,
)
from app.core.clock import TOKYO
from app.core.db import db_session
from tests import factories
from tests.cohorts.conftest import (
    THEME,
    Org,
    Programme,
    Teams,
    application,
    apply_for,
    signed_in,
    stored_files,
    submissions_of,
    work_post,
)
from tests.form_pages import BIDI, BIDI_SAID, CONTROL, CONTROL_SAID, field_errors


def count(model: type) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


# --- applying and endorsing --------------------------------------------------------------------


def test_an_application_with_a_bidi_control_is_a_field_error_and_nothing_is_saved(app: Flask, org: Org) -> None:
    with app.app_context():
        cohort_id = factories.cohort().id
    client = signed_in(app, org.staff_a[0])
    path = f"/cohorts/{cohort_id}"

    response = factories.post(client, path, {"statement": f"窓口の{BIDI}デジタル化", "theme": THEME,
                                             "answer-0": f"申請{CONTROL}書"}, form_page=path)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    errors = field_errors(page)
    assert errors["statement"] == f"志望動機: {BIDI_SAID}"
    assert errors["answer-0"] == f"取り組みたい課題は？: {CONTROL_SAID}"  # the question, as the page asks it
    assert 'aria-describedby="statement-error"' in page
    assert "窓口の" in page  # what was written comes back to be corrected
    with app.app_context():
        assert count(Application) == 0


def test_changing_an_application_with_a_control_character_changes_nothing(app: Flask, org: Org) -> None:
    with app.app_context():
        cohort_id = factories.cohort().id
        application_id = apply_for(cohort_id, org.staff_a[0].id)
    client = signed_in(app, org.staff_a[0])
    path = f"/cohorts/{cohort_id}"
    response = factories.post(client, path, {"intent": "edit", "statement": f"変更{CONTROL}", "theme": THEME,
                                             "answer-0": "x"}, form_page=path)
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True))["statement"] == f"志望動機: {CONTROL_SAID}"
    with app.app_context():
        row = application(application_id)
        assert (row.statement, row.answers) == (f"{org.staff_a[0].name}の志望動機", ["業務の課題"])


def test_an_endorsement_comment_with_a_bidi_control_is_refused_next_to_that_application(app: Flask,
                                                                                      org: Org) -> None:
    with app.app_context():
        cohort_id = factories.cohort().id
        application_id = apply_for(cohort_id, org.staff_a[0].id, endorse=False)
    manager = signed_in(app, org.manager_a)
    path = "/cohorts/endorsements"
    response = factories.post(manager, path, {"application_id": str(application_id), "decision": "endorse",
                                              "comment": f"推薦{BIDI}します"}, form_page=path)
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True)) == {f"comment-{application_id}": f"コメント: {BIDI_SAID}"}
    with app.app_context():
        row = application(application_id)
        assert row.endorsement == Endorsement.PENDING and row.endorsed_by_id is None


# --- HR: opening a cohort, teams, milestones ---------------------------------------------------


def _opening(programme_id: int, **fields: str) -> dict[str, str]:
    return {"programme": str(programme_id), "name": "第9期", "opens": "2027-03-31T23:00",
            "closes": "2027-05-31T17:00", "quota": "20", "requires_endorsement": "y", "questions": "課題は？",
            **fields}


def test_opening_a_cohort_names_every_bad_field_and_opens_nothing(app: Flask, org: Org) -> None:
    with app.app_context():
        programme_id = factories.cohort().programme_id
        before = count(Cohort)
    hr = signed_in(app, org.hr)
    path = "/cohorts/manage"
    response = factories.post(hr, path, _opening(
        0, name="  ", opens="next Monday", closes="", quota="٣", **{f"cap-{org.dept_a}": "1_000"},
        questions=f"課題は？{BIDI}"), form_page=path)
    assert response.status_code == 400
    errors = field_errors(response.get_data(as_text=True))
    assert errors == {
        "programme": "プログラム: 選抜型プログラムを選んでください。",
        "name": "期の名称: 期の名称を入力してください。",
        "opens": "応募開始: 日時を入力してください。",
        "closes": "応募締切: 日時を入力してください。",
        "quota": "定員: 定員は1から100000までの数で入力してください。",  # "٣" is not 3
        f"cap-{org.dept_a}": "デジタル推進部: 整数を入力するか、空欄にしてください。",  # nor "1_000" 1000
        "questions": f"応募フォームの質問（1行に1問）: {BIDI_SAID}",
    }, errors
    with app.app_context():
        assert count(Cohort) == before

    # the service's own check lands next to the field it is about
    refused = factories.post(hr, path, _opening(programme_id, closes="2027-03-01T09:00"), form_page=path)
    assert refused.status_code == 400
    assert field_errors(refused.get_data(as_text=True)) == {
        "closes": "応募締切: 応募締切は応募開始より後にしてください。"}
    with app.app_context():
        assert count(Cohort) == before


def test_a_new_cohorts_fiscal_year_is_that_of_its_opening_in_tokyo(app: Flask, org: Org) -> None:
    with app.app_context():
        programme_id = factories.cohort().programme_id
    hr = signed_in(app, org.hr)
    path = "/cohorts/manage"
    for name, opens, fiscal_year in (("三月期", "2027-03-31T23:30", 2026), ("四月期", "2027-04-01T00:00", 2027)):
        response = factories.post(hr, path, _opening(programme_id, name=name, opens=opens,
                                                     **{f"cap-{org.dept_b}": "２"}), form_page=path)
        assert response.status_code == 302, field_errors(response.get_data(as_text=True))
        with app.app_context():
            cohort = db_session.scalar(select(Cohort).where(Cohort.name == name))
            assert cohort.fiscal_year == fiscal_year
            assert [(cap.unit_id, cap.cap) for cap in cohort.caps] == [(org.dept_b, 2)]  # full-width digits


def test_a_team_name_with_a_control_character_is_a_field_error(app: Flask, org: Org, programme: Programme) -> None:
    hr = signed_in(app, org.hr)
    path = f"/cohorts/{programme.cohort_id}/teams"
    response = factories.post(hr, path, {"name": f"チーム{CONTROL}", "host_unit": programme.host_code,
                                         "theme": "smart_government", "mentors": programme.mentors[0].employee_number,
                                         "members": [str(programme.participants[0].id)],
                                         "problem": f"紙の{BIDI}運用"}, form_page=path)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page) == {"name": f"チーム名: {CONTROL_SAID}", "problem": f"受入所属の課題: {BIDI_SAID}"}
    assert f'value="{programme.participants[0].id}" checked' in page  # the choices made are kept
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(FieldworkTeam).where(
            FieldworkTeam.cohort_id == programme.cohort_id)) == 0


def test_a_team_the_rules_refuse_comes_back_with_the_field_named_and_nothing_typed_lost(
        app: Flask, org: Org, programme: Programme) -> None:
    hr = signed_in(app, org.hr)
    path = f"/cohorts/{programme.cohort_id}/teams"
    good = {"name": "窓口DXチーム", "host_unit": programme.host_code, "theme": "smart_government",
            "mentors": programme.mentors[0].employee_number, "members": [str(programme.participants[0].id)],
            "problem": "申請書の紙運用が多く、窓口が混雑している。"}
    for change, field, said in (({"host_unit": "Z9999"}, "host_unit", "受入所属"),
                                ({"mentors": "NOBODY1"}, "mentors", "メンター"),
                                ({"members": []}, "members", "メンバー")):
        response = factories.post(hr, path, {**good, **change}, form_page=path)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        errors = field_errors(page)
        assert list(errors) == [field] and errors[field].startswith(said), errors
        assert 'value="窓口DXチーム"' in page and "申請書の紙運用が多く、窓口が混雑している。" in page
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(FieldworkTeam).where(
            FieldworkTeam.cohort_id == programme.cohort_id)) == 0
    assert factories.post(hr, path, good, form_page=path).status_code == 302


def test_a_due_date_that_is_not_a_date_is_a_field_error_on_the_board(app: Flask, org: Org,
                                                                    programme: Programme) -> None:
    plan = programme.milestones[MilestoneKind.PLAN]
    with app.app_context():
        due_at = db_session.get(Milestone, plan).due_at
        elsewhere = factories.cohort()
        other = db_session.scalar(select(Milestone).where(Milestone.cohort_id == elsewhere.id,
                                                          Milestone.kind == MilestoneKind.PLAN))
        other_plan, other_due_at = other.id, other.due_at
    hr = signed_in(app, org.hr)
    path = f"/cohorts/{programme.cohort_id}/milestones"
    board = f"/cohorts/{programme.cohort_id}/board"
    response = factories.post(hr, path, {"milestone_id": str(plan), "due_at": "来週", "per_team": "y"},
                              form_page=board)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page) == {f"due-{plan}": "提出期限: 日時を入力してください。"}
    assert 'value="来週"' in page
    # another cohort's milestone is not found through this cohort
    assert factories.post(hr, path, {"milestone_id": str(other_plan), "due_at": "2027-01-01T09:00"},
                          form_page=board).status_code == 404
    with app.app_context():
        db_session.expire_all()
        assert db_session.get(Milestone, plan).due_at == due_at
        assert db_session.get(Milestone, other_plan).due_at == other_due_at

    moved = factories.post(hr, path, {"milestone_id": str(plan), "due_at": "2027-01-15T17:00"}, form_page=board)
    assert moved.status_code == 302
    with app.app_context():
        db_session.expire_all()
        milestone = db_session.get(Milestone, plan)
        assert milestone.due_at == datetime(2027, 1, 15, 17, 0, tzinfo=TOKYO)  # meant in Tokyo
        assert milestone.per_team is False


# --- the work: submissions, reviews, the abstract ----------------------------------------------


def test_work_with_a_control_character_is_refused_and_nothing_is_stored(app: Flask, programme: Programme,
                                                                       teams: Teams) -> None:
    client = signed_in(app, programme.participants[0])
    plan = programme.milestones[MilestoneKind.PLAN]
    before = stored_files(app)
    response = work_post(client, programme.cohort_id, plan, f"計画{CONTROL}書",
                         [(b"%PDF-1.4\n%%EOF\n", "plan.pdf")])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_errors(page) == {f"text-{plan}": f"本文（Markdown）: {CONTROL_SAID}"}
    assert stored_files(app) == before
    with app.app_context():
        assert submissions_of(teams.a) == []


def test_a_review_comment_with_a_bidi_control_is_refused_and_no_review_is_saved(app: Flask, programme: Programme,
                                                                             teams: Teams) -> None:
    plan = programme.milestones[MilestoneKind.PLAN]
    work_post(signed_in(app, programme.participants[0]), programme.cohort_id, plan, "計画書")
    with app.app_context():
        (submission,) = submissions_of(teams.a)
        submission_id = submission.id
    mentor = signed_in(app, programme.mentors[0])
    path = f"/cohorts/submissions/{submission_id}"
    response = factories.post(mentor, path, {"decision": "return", "comment": f"数値目標を{BIDI}"}, form_page=path)
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True)) == {"comment": f"コメント: {BIDI_SAID}"}
    with app.app_context():
        assert count(Review) == 0
        assert submissions_of(teams.a)[0].status == SubmissionStatus.SUBMITTED


def test_an_abstract_with_a_control_character_is_refused_and_a_clean_one_is_saved(app: Flask, programme: Programme,
                                                                                teams: Teams) -> None:
    client = signed_in(app, programme.participants[0])
    path = f"/cohorts/{programme.cohort_id}/abstract"
    work = f"/cohorts/{programme.cohort_id}/work"
    refused = factories.post(client, path, {"abstract": f"## 成果{CONTROL}"}, form_page=work)
    assert refused.status_code == 400
    assert field_errors(refused.get_data(as_text=True)) == {
        "abstract": f"最終概要（成果紹介ページに掲載）: {CONTROL_SAID}"}
    with app.app_context():
        assert db_session.get(FieldworkTeam, teams.a).abstract == ""

    saved = factories.post(client, path, {"abstract": "  ## 成果\r\n\r\n点検時間を半減。  "}, form_page=work)
    assert saved.status_code == 302
    with app.app_context():
        db_session.expire_all()
        assert db_session.get(FieldworkTeam, teams.a).abstract == "## 成果\r\n\r\n点検時間を半減。"


def test_a_person_outside_every_team_cannot_write_an_abstract(app: Flask, org: Org, programme: Programme,
                                                             teams: Teams) -> None:
    with app.app_context():
        abstracts = {t.id: t.abstract for t in db_session.scalars(select(FieldworkTeam))}
    for outsider in (programme.not_selected, programme.mentors[0], org.hr):
        client = signed_in(app, outsider)
        response = factories.post(client, f"/cohorts/{programme.cohort_id}/abstract", {"abstract": "乗っ取り"})
        assert response.status_code == 403, outsider.name
    with app.app_context():
        db_session.expire_all()
        assert {t.id: t.abstract for t in db_session.scalars(select(FieldworkTeam))} == abstracts
