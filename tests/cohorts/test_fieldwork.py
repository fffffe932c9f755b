"""The fieldwork of selected participants: teams with a host division and mentors, versioned
submissions with checked uploads (size, type by content, path tricks) that only the team, its
mentors and HR can download, rubric reviews, and the programme's completion rule on the board."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from flask import current_app
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.attendance.models import AttendanceStatus
from app.attendance.services import set_mark
from app.catalog.models import Course
from app.cohorts import services
from app.cohorts.models import (
    Cohort,
    Decision,
    FieldworkTeam,
    Milestone,
    MilestoneKind,
    Review,
    SubmissionFile,
    SubmissionStatus,
    TeamMember,
)
from app.completion.models import Completion, CompletionSource
from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import RoleName, Unit
from app.scheduling.models import Meeting
from tests import factories
from tests.cohorts.conftest import (
    PDF,
    PNG,
    Programme,
    apply_for,
    decide,
    flashes,
    person,
    signed_in,
    stored_files,
    submissions_of,
    work_post,
)
from tests.form_pages import field_errors

# --- teams -------------------------------------------------------------------------------------


def _team_post(client: FlaskClient, cohort_id: int, **fields) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    path = f"/cohorts/{cohort_id}/teams"
    data = {"name": "チーム", "host_unit": "", "theme": "smart_government", "mentors": "", "problem": "", **fields}
    response = factories.post(client, path, data, form_page=path)
    assert response.status_code == 302
    return flashes(client.get(response.headers["Location"]).get_data(as_text=True))


def test_teams_need_selected_members_and_nobody_is_in_two_teams(app, org, programme):
    cohort_id, p, m = programme.cohort_id, programme.participants, programme.mentors
    hr = signed_in(app, org.hr)
    page = hr.get(f"/cohorts/{cohort_id}/teams").get_data(as_text=True)
    assert all(x.name in page for x in p) and programme.not_selected.name not in page

    shown = _team_post(hr, cohort_id, name="スマート道路", host_unit=programme.host_code, theme="smart_solutions",
                       mentors=f"{m[0].employee_number}, {m[1].employee_number}", problem="点検記録の紙運用",
                       members=[str(p[0].id), str(p[2].id)])
    assert ("success", "チームを編成しました。") in shown
    with app.app_context():
        team = db_session.scalar(select(FieldworkTeam).where(FieldworkTeam.cohort_id == cohort_id))
        assert (team.name, team.host_unit_id, team.theme, team.problem) == (
            "スマート道路", programme.host_id, "smart_solutions", "点検記録の紙運用")
        assert {x.employee_id for x in team.members} == {p[0].id, p[2].id}
        assert {x.id for x in team.mentors} == {m[0].id, m[1].id}
        assert services.team_of(p[0].id, cohort_id).id == team.id

    refusals = [  # shown beside the field they are about, the form as it was typed (400)
        ({"members": [str(p[1].id), str(programme.not_selected.id)]},
         "members", f"{programme.not_selected.name} さんは選考された受講者ではありません。"),
        ({"members": [str(p[1].id), str(p[0].id)], "name": "別チーム"},
         "members", "既に別のチームに所属しているメンバーがいるか、チーム名が重複しています。"),
        ({"members": [str(p[1].id)], "host_unit": "NO-SUCH-UNIT"},
         "host_unit", "受入所属のコードが登録されていません。"),
        ({"members": [str(p[1].id)], "theme": "general"}, "theme", "3つのテーマから1つ選んでください。"),
    ]
    path = f"/cohorts/{cohort_id}/teams"
    for fields, field, message in refusals:
        data = {"host_unit": programme.host_code, "mentors": m[2].employee_number, "name": "第二チーム",
                "theme": "smart_government", "problem": "", **fields}
        response = factories.post(hr, path, data, form_page=path)
        assert response.status_code == 400, message
        assert field_errors(response.get_data(as_text=True))[field].endswith(message), message
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(FieldworkTeam).where(
            FieldworkTeam.cohort_id == cohort_id)) == 1
        assert db_session.scalar(select(func.count()).select_from(TeamMember).where(
            TeamMember.employee_id == p[0].id)) == 1

    assert signed_in(app, p[1]).get(f"/cohorts/{cohort_id}/teams").status_code == 403  # HR only


def test_a_non_participant_cannot_open_the_work_page(app, programme):
    client = signed_in(app, programme.not_selected)
    assert client.get(f"/cohorts/{programme.cohort_id}/work").status_code == 403


# --- uploads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("files", "message"), [
    ([(PNG, "plan.pdf")], "plan.pdf は拡張子と中身が一致しません（中身は PNG ファイルです）。"),
    ([(b"just some notes, not a PDF\n", "x.pdf")], "x.pdf はPDF、Office文書、画像のいずれでもありません。"),
    ([(PDF, "../../etc/passwd.pdf")], "ファイル名 ../../etc/passwd.pdf は使えません。"
                                      "フォルダを含まない名前にしてください。"),
    ([(PDF, "/var/lib/manabi/x.pdf")], "ファイル名 /var/lib/manabi/x.pdf は使えません。"
                                       "フォルダを含まない名前にしてください。"),
    ([(PDF, "good.pdf"), (PNG, "bad.pdf")], "bad.pdf は拡張子と中身が一致しません（中身は PNG ファイルです）。"),
])
def test_a_bad_file_is_refused_with_a_clear_message_and_nothing_is_stored(app, programme, teams, files, message):
    client = signed_in(app, programme.participants[0])
    before = stored_files(app)
    response = work_post(client, programme.cohort_id, programme.milestones[MilestoneKind.PLAN], "計画書", files)
    assert response.status_code == 302
    assert ("error", message) in flashes(client.get(response.headers["Location"]).get_data(as_text=True))
    assert stored_files(app) == before
    with app.app_context():
        assert submissions_of(teams.a) == []
        assert db_session.scalar(select(func.count()).select_from(SubmissionFile)) == 0


def test_an_oversized_file_is_refused(app, programme, teams):
    client = signed_in(app, programme.participants[0])
    before = stored_files(app)
    limit = app.config["COHORT_UPLOAD_MAX_BYTES"]
    app.config["COHORT_UPLOAD_MAX_BYTES"] = 1024 * 1024
    try:
        big = PDF + b"%" * (1024 * 1024)
        response = work_post(client, programme.cohort_id, programme.milestones[MilestoneKind.PLAN], "計画書",
                             [(big, "plan.pdf")])
        assert response.status_code == 302
        assert ("error", "plan.pdf は 1 MB を超えています。") in flashes(
            client.get(response.headers["Location"]).get_data(as_text=True))
        exact = work_post(client, programme.cohort_id, programme.milestones[MilestoneKind.INTERIM], "",
                          [(PDF + b"%" * (1024 * 1024 - len(PDF)), "interim.pdf")])
    finally:
        app.config["COHORT_UPLOAD_MAX_BYTES"] = limit
    assert exact.status_code == 302
    with app.app_context():
        kept = submissions_of(teams.a)
        assert [s.milestone_id for s in kept] == [programme.milestones[MilestoneKind.INTERIM]]  # at the limit is fine
        assert kept[0].files[0].size == 1024 * 1024
    assert len(stored_files(app) - before) == 1


def test_a_real_pdf_is_stored_and_downloads_only_for_the_team_its_mentors_and_hr(app, org, programme, teams):
    member, teammate, other_team = programme.participants[0], programme.participants[2], programme.participants[1]
    client = signed_in(app, member)
    before = stored_files(app)
    response = work_post(client, programme.cohort_id, programme.milestones[MilestoneKind.PLAN], "## 計画\n\n本文",
                         [(PDF, "実施計画.pdf")])
    assert ("success", "提出しました。メンターに確認を依頼しました。") in flashes(
        client.get(response.headers["Location"]).get_data(as_text=True))
    with app.app_context():
        (submission,) = submissions_of(teams.a)
        (stored,) = submission.files
        assert (submission.version, submission.status, submission.is_late) == (1, SubmissionStatus.SUBMITTED, False)
        assert (stored.original_name, stored.content_type, stored.size) == ("実施計画.pdf", "application/pdf", len(PDF))
        assert stored.stored_name != stored.original_name and "/" not in stored.stored_name
        file_id = stored.id
    assert stored_files(app) - before == {stored.stored_name}
    assert (Path(app.config["UPLOAD_DIR"]) / "cohorts" / stored.stored_name).read_bytes() == PDF

    path = f"/cohorts/files/{file_id}"
    for allowed in (teammate, programme.mentors[0], org.hr):
        with signed_in(app, allowed).get(path) as download:
            assert download.status_code == 200, allowed.name
            assert download.data == PDF and download.mimetype == "application/pdf"
            assert download.headers["Content-Disposition"].startswith("attachment")
    for refused in (other_team, programme.mentors[1], programme.not_selected, org.manager_a):
        assert signed_in(app, refused).get(path).status_code == 403, refused.name


def test_versions_count_up_and_a_version_after_the_due_date_is_late(app, programme, teams):
    member, mentor = programme.participants[0], programme.mentors[0]
    plan = programme.milestones[MilestoneKind.PLAN]
    client = signed_in(app, member)
    work_post(client, programme.cohort_id, plan, "初版")
    with app.app_context():
        due_at = db_session.get(Milestone, plan).due_at
        first = submissions_of(teams.a)[0]
        services.review(person(mentor.id), first, False, {}, "目標を数値で示してください")
        db_session.commit()
    with time_machine.travel(due_at + timedelta(hours=2), tick=False):
        client = signed_in(app, member)
        work_post(client, programme.cohort_id, plan, "第2版（期限後）", [(PDF, "plan-v2.pdf")])
        page = client.get(f"/cohorts/{programme.cohort_id}/work").get_data(as_text=True)
    with app.app_context():
        versions = [(s.version, s.is_late, s.status) for s in submissions_of(teams.a)]
    assert versions == [(1, False, SubmissionStatus.RETURNED), (2, True, SubmissionStatus.SUBMITTED)]
    assert "期限後" in page


# --- reviews and the rubric -------------------------------------------------------------------


def _review(client: FlaskClient, submission_id: int, data: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    path = f"/cohorts/submissions/{submission_id}"
    response = factories.post(client, path, data, form_page=path)
    assert response.status_code == 302
    return flashes(client.get(response.headers["Location"]).get_data(as_text=True))


def test_a_mentor_returns_the_plan_with_a_comment_then_accepts_version_2(app, programme, teams):
    member, mentor = programme.participants[0], programme.mentors[0]
    plan = programme.milestones[MilestoneKind.PLAN]
    team_client = signed_in(app, member)
    work_post(team_client, programme.cohort_id, plan, "初版の計画")
    with app.app_context():
        v1 = submissions_of(teams.a)[0].id

    assert signed_in(app, programme.mentors[1]).get(f"/cohorts/submissions/{v1}").status_code == 403
    mentor_client = signed_in(app, mentor)
    assert ("error", "修正を依頼する場合は、修正してほしい点を書いてください。") in _review(
        mentor_client, v1, {"decision": "return", "comment": "   "})
    with app.app_context():
        assert submissions_of(teams.a)[0].status == SubmissionStatus.SUBMITTED
    assert ("success", "確認結果を保存しました。") in _review(
        mentor_client, v1, {"decision": "return", "comment": "受入所属へのヒアリング結果を加えてください"})

    work_post(team_client, programme.cohort_id, plan, "第2版の計画")
    with app.app_context():
        first, second = submissions_of(teams.a)
        assert first.status == SubmissionStatus.RETURNED and second.version == 2
        (returned,) = first.reviews
        assert not returned.accepted and returned.comment == "受入所属へのヒアリング結果を加えてください"
        v2 = second.id
    assert ("success", "確認結果を保存しました。") in _review(mentor_client, v2, {"decision": "accept", "comment": ""})
    with app.app_context():
        assert submissions_of(teams.a)[1].status == SubmissionStatus.ACCEPTED
    # an accepted milestone takes no further version
    response = work_post(team_client, programme.cohort_id, plan, "第3版")
    assert ("error", "この提出物は既に承認されています。") in flashes(
        team_client.get(response.headers["Location"]).get_data(as_text=True))


def test_the_presentation_review_scores_every_criterion_and_computes_points(app, programme, teams):
    member, mentor = programme.participants[0], programme.mentors[0]
    team_client = signed_in(app, member)
    work_post(team_client, programme.cohort_id, programme.milestones[MilestoneKind.PRESENTATION], "発表資料",
              [(PDF, "slides.pdf")])
    with app.app_context():
        submission_id = submissions_of(teams.a)[0].id
    mentor_client = signed_in(app, mentor)
    page = mentor_client.get(f"/cohorts/submissions/{submission_id}").get_data(as_text=True)
    assert all(f'name="criterion-{i}"' in page for i in range(3))

    assert ("error", "すべての観点を評価してください：発表・伝達。") in _review(
        mentor_client, submission_id, {"decision": "accept", "criterion-0": "0", "criterion-1": "1"})
    assert ("error", "すべての観点を評価してください：課題設定。") in _review(
        mentor_client, submission_id,
        {"decision": "accept", "criterion-0": "9", "criterion-1": "1", "criterion-2": "2"})
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Review).where(
            Review.submission_id == submission_id)) == 0

    assert ("success", "確認結果を保存しました。") in _review(
        mentor_client, submission_id,
        {"decision": "accept", "criterion-0": "0", "criterion-1": "1", "criterion-2": "2"})
    with app.app_context():
        (review,) = db_session.scalars(select(Review).where(Review.submission_id == submission_id))
        assert (review.points, review.max_points, review.scores) == (4 + 3 + 2, 12, {"0": 0, "1": 1, "2": 2})
    assert "12点中9点" in mentor_client.get(f"/cohorts/submissions/{submission_id}").get_data(as_text=True)


# --- completion and the progress board --------------------------------------------------------


def _accept(team_id: int, milestone_id: int, mentor_id: int, scores: dict[str, int] | None = None) -> None:
    team = db_session.get(FieldworkTeam, team_id)
    milestone = db_session.get(Milestone, milestone_id)
    submission = services.submit_work(person(team.members[0].employee_id), milestone, team, "提出物", [],
                                      Path(current_app.config["UPLOAD_DIR"]))
    services.review(person(mentor_id), submission, True, scores or {}, "")
    db_session.commit()


def _programme_completions(programme: Programme) -> dict[int, CompletionSource]:
    course_id = db_session.get(Cohort, programme.cohort_id).programme_id
    return {c.employee_id: c.source for c in db_session.scalars(select(Completion).where(
        Completion.course_id == course_id, Completion.revoked_at.is_(None)))}


def _board_row(page: str, name: str) -> str:
    return next(row for row in page.split("<tr>") if f'<th scope="row">{name}</th>' in row).split("</tr>")[0]


def test_completion_needs_attendance_every_milestone_and_the_presentation_bar(app, org, programme, teams):
    p, m, stones = programme.participants, programme.mentors, programme.milestones
    top = {"0": 0, "1": 0, "2": 1}  # 4 + 4 + 3 of 12 = 92 %
    low = {"0": 2, "1": 2, "2": 3}  # 2 + 2 + 0 of 12 = 33 %, under the bar of 60 %
    with app.app_context():
        module = factories.training_session(db_session.get(Course, programme.module_course_id),
                                            starts_in=timedelta(days=1), meetings=1)
        module.cohort_only = True
        db_session.commit()
        meeting_id, ends_at = module.meetings[0].id, module.meetings[0].ends_at
        enrolments = {x.id: factories.enrolment(person(x.id), module).id for x in p}
        for kind in (MilestoneKind.PLAN, MilestoneKind.INTERIM, MilestoneKind.FINAL_REPORT):
            _accept(teams.a, stones[kind], m[0].id)
            _accept(teams.b, stones[kind], m[1].id)
            if kind != MilestoneKind.INTERIM:
                _accept(teams.c, stones[kind], m[2].id)  # the interim report is missing
        _accept(teams.a, stones[MilestoneKind.PRESENTATION], m[0].id, top)
        _accept(teams.b, stones[MilestoneKind.PRESENTATION], m[1].id, low)
        _accept(teams.c, stones[MilestoneKind.PRESENTATION], m[2].id, top)
        assert _programme_completions(programme) == {}  # no attendance counted yet

    with time_machine.travel(ends_at + timedelta(hours=1), tick=False):
        with app.app_context():
            meeting = db_session.get(Meeting, meeting_id)
            for enrolment_id in enrolments.values():
                set_mark(None, db_session.get(Enrolment, enrolment_id), meeting, AttendanceStatus.PRESENT)
            db_session.commit()
            completed = _programme_completions(programme)
            assert completed == {p[0].id: CompletionSource.PROGRAMME, p[2].id: CompletionSource.PROGRAMME}
            # the HR button re-evaluates to the same answer
            assert services.evaluate_completions(db_session.get(Cohort, programme.cohort_id)) == 2
            db_session.commit()

        board_path = f"/cohorts/{programme.cohort_id}/board"
        page = signed_in(app, org.hr).get(board_path).get_data(as_text=True)
        for x in (p[0], p[2]):
            row = _board_row(page, x.name)
            assert '<span class="badge badge--ok">修了</span>' in row and "100%" in row and "92%" in row
        assert '<span class="badge badge--ok">修了</span>' not in _board_row(page, p[1].name)  # below the bar
        assert "33%" in _board_row(page, p[1].name)
        assert '<span class="badge badge--ok">修了</span>' not in _board_row(page, p[3].name)  # interim missing
        assert signed_in(app, m[1]).get(board_path).status_code == 200  # a mentor of this cohort
        # each status on the board opens the submission behind it; a missing one has nothing to open
        links = re.findall(r'href="(/cohorts/submissions/\d+)"', _board_row(page, p[3].name))
        assert len(links) == 3  # plan, final report and presentation; the interim report is missing
        reviewed = signed_in(app, org.hr).get(links[0])
        assert reviewed.status_code == 200 and "提出物" in reviewed.get_data(as_text=True)
        with app.app_context():
            elsewhere = factories.cohort(requires_endorsement=False)
            outsider = factories.employee(db_session.get(Unit, org.division_b), "SHUNIN")
            decide(org.hr.id, apply_for(elsewhere.id, outsider.id), Decision.SELECTED)
            other_mentor = factories.employee(factories.unit("他期メンター"), "KACHO", roles=(RoleName.MENTOR,))
            services.form_team(person(org.hr.id), db_session.get(Cohort, elsewhere.id), "他期チーム",
                               db_session.get(Unit, programme.host_id), "smart_workstyle", "",
                               [person(outsider.id)], [person(other_mentor.id)])
            db_session.commit()
        assert signed_in(app, other_mentor).get(board_path).status_code == 403
        assert signed_in(app, p[0]).get(board_path).status_code == 403

