"""Object-level rules of the cohort programme (the `# --- cohorts ---` section of
app/permissions.py), through real requests with CSRF on: own work against another's, a mentor of
another team, a participant who may see but not review, and non-HR people on HR pages, who change
nothing. The predicates are checked directly as well."""
from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import permissions
from app.cohorts import services
from app.cohorts.models import Application, Cohort, Milestone, MilestoneKind, Review, Submission
from app.core.db import db_session
from app.org.models import Employee
from tests import factories
from tests.cohorts.conftest import (
    Org,
    Programme,
    Teams,
    flashes,
    person,
    signed_in,
    submissions_of,
    work_post,
)
from tests.db_snapshot import changed_tables, snapshot


def _team_submission(app: Flask, programme: Programme, teams: Teams) -> int:
    """Team a (甲0 + 乙0, mentor 0) submits its plan; returns the submission id."""
    work_post(signed_in(app, programme.participants[0]), programme.cohort_id,
              programme.milestones[MilestoneKind.PLAN], "チームの計画")
    with app.app_context():
        (submission,) = submissions_of(teams.a)
        return submission.id


def _individual_submission(app: Flask, org: Org, programme: Programme) -> int:
    """The interim report becomes one per person; 甲0 (team a) submits theirs."""
    interim = programme.milestones[MilestoneKind.INTERIM]
    with app.app_context():
        services.set_milestone(person(org.hr.id), db_session.get(Milestone, interim),
                               db_session.get(Milestone, interim).due_at, per_team=False)
        db_session.commit()
    work_post(signed_in(app, programme.participants[0]), programme.cohort_id, interim, "個人の中間報告")
    with app.app_context():
        submission = db_session.scalar(select(Submission).where(Submission.milestone_id == interim))
        assert submission.team_id is None and submission.employee_id == programme.participants[0].id
        return submission.id


def _reviews(app: Flask, submission_id: int) -> int:
    with app.app_context():
        return db_session.scalar(select(func.count()).select_from(Review).where(Review.submission_id == submission_id))


# --- seeing a submission ---------------------------------------------------------------------------


def test_a_team_submission_is_seen_by_its_team_its_mentors_and_hr_only(app, org, programme, teams):
    submission_id = _team_submission(app, programme, teams)
    p, m = programme.participants, programme.mentors
    path = f"/cohorts/submissions/{submission_id}"
    for allowed in (p[0], p[2], m[0], org.hr):  # own, a teammate's, the team's mentor, HR
        assert signed_in(app, allowed).get(path).status_code == 200, allowed.name
    for refused in (p[1], p[3], m[1], programme.not_selected, org.manager_a):  # other teams, their mentor …
        assert signed_in(app, refused).get(path).status_code == 403, refused.name


def test_an_individual_submission_is_seen_by_its_author_and_their_teams_mentors(app, org, programme, teams):
    submission_id = _individual_submission(app, org, programme)
    p, m = programme.participants, programme.mentors
    path = f"/cohorts/submissions/{submission_id}"
    for allowed in (p[0], m[0], org.hr):
        assert signed_in(app, allowed).get(path).status_code == 200, allowed.name
    for refused in (p[2], p[1], m[1], programme.not_selected):  # even a teammate: it is one person's work
        assert signed_in(app, refused).get(path).status_code == 403, refused.name


# --- reviewing -------------------------------------------------------------------------------------


def _review(client: FlaskClient, submission_id: int, decision: str = "accept"):  # type: ignore[no-untyped-def]
    path = f"/cohorts/submissions/{submission_id}"
    return factories.post(client, path, {"decision": decision, "comment": "確認しました"})


def test_a_mentor_of_another_team_can_neither_see_nor_review(app, programme, teams):
    submission_id = _team_submission(app, programme, teams)
    response = _review(signed_in(app, programme.mentors[1]), submission_id)
    assert response.status_code == 403
    assert _reviews(app, submission_id) == 0


def test_a_member_sees_their_teams_work_but_cannot_review_it(app, programme, teams):
    submission_id = _team_submission(app, programme, teams)
    member = signed_in(app, programme.participants[2])
    page = member.get(f"/cohorts/submissions/{submission_id}").get_data(as_text=True)
    assert 'name="decision"' not in page  # no review form is offered
    response = _review(member, submission_id)
    assert response.status_code == 302
    assert ("error", "この提出物を確認できるのはチームのメンターだけです。") in flashes(
        member.get(response.headers["Location"]).get_data(as_text=True))
    assert _reviews(app, submission_id) == 0


def test_the_mentors_of_an_authors_team_review_individual_work(app, org, programme, teams):
    submission_id = _individual_submission(app, org, programme)
    assert _review(signed_in(app, programme.mentors[1]), submission_id).status_code == 403
    assert _reviews(app, submission_id) == 0
    mentor = signed_in(app, programme.mentors[0])
    assert 'name="decision"' in mentor.get(f"/cohorts/submissions/{submission_id}").get_data(as_text=True)
    response = _review(mentor, submission_id)
    page = mentor.get(response.headers["Location"]).get_data(as_text=True)
    assert ("success", "確認結果を保存しました。") in flashes(page)
    assert _reviews(app, submission_id) == 1


# --- HR pages ----------------------------------------------------------------------------------------


def test_people_who_are_not_hr_are_refused_on_every_hr_page_and_change_nothing(app, org, programme, teams):
    cohort_id = programme.cohort_id
    plan = programme.milestones[MilestoneKind.PLAN]
    with app.app_context():
        programme_id = db_session.get(Cohort, cohort_id).programme_id
        undecided = db_session.scalar(select(Application.id).where(
            Application.cohort_id == cohort_id, Application.employee_id == programme.not_selected.id))
    posts = {
        "/cohorts/manage": {"programme": str(programme_id), "name": "勝手な期", "opens": "2027-04-01T09:00",
                            "closes": "2027-05-01T09:00", "quota": "5"},
        f"/cohorts/{cohort_id}/selection": {"action": "selected", "application_id": str(undecided),
                                             "from": "undecided"},
        f"/cohorts/{cohort_id}/teams": {"name": "勝手なチーム", "host_unit": programme.host_code,
                                         "theme": "smart_government", "mentors": programme.mentors[0].employee_number,
                                         "members": [str(programme.participants[0].id)]},
        f"/cohorts/{cohort_id}/milestones": {"milestone_id": str(plan), "due_at": "2030-01-01T09:00"},
    }
    people: dict[str, Employee] = {"participant": programme.participants[0], "mentor": programme.mentors[0],
                                   "manager": org.manager_a, "employee": programme.not_selected}
    clients = {name: signed_in(app, someone) for name, someone in people.items()}
    with app.app_context():
        before = snapshot()
    for name, client in clients.items():
        for path in ("/cohorts/manage", f"/cohorts/{cohort_id}/selection", f"/cohorts/{cohort_id}/teams"):
            assert client.get(path).status_code == 403, (name, path)
        for path, data in posts.items():
            assert factories.post(client, path, data).status_code == 403, (name, path)
        board = factories.post(client, f"/cohorts/{cohort_id}/board", {})  # "check completion now"
        assert board.status_code == (200 if name == "mentor" else 403), name  # a mentor only looks
    with app.app_context():
        assert changed_tables(before, snapshot()) == []


# --- the predicates themselves -----------------------------------------------------------------------


@pytest.mark.parametrize(("who", "sees", "reviews"), [
    ("author", True, False), ("teammate", True, False), ("team mentor", True, True), ("hr", True, True),
    ("other team", False, False), ("other mentor", False, False), ("manager", False, False),
])
def test_submission_predicates_for_team_work(app, org, programme, teams, who, sees, reviews):
    submission_id = _team_submission(app, programme, teams)
    p, m = programme.participants, programme.mentors
    actor = {"author": p[0], "teammate": p[2], "team mentor": m[0], "hr": org.hr, "other team": p[1],
             "other mentor": m[1], "manager": org.manager_a}[who]
    with app.test_request_context():
        submission = db_session.get(Submission, submission_id)
        user = person(actor.id)
        assert permissions.can_see_submission(user, submission) is sees
        assert permissions.can_review_submission(user, submission) is reviews


def test_board_and_participant_predicates(app, org, programme, teams):
    with app.test_request_context():
        cohort = db_session.get(Cohort, programme.cohort_id)
        other = factories.cohort()
        p, m = programme.participants, programme.mentors
        assert permissions.can_view_progress_board(person(org.hr.id), cohort)
        assert permissions.can_view_progress_board(person(m[2].id), cohort)
        assert not permissions.can_view_progress_board(person(m[2].id), other)  # mentors here, not there
        assert not permissions.can_view_progress_board(person(p[0].id), cohort)
        assert permissions.is_cohort_participant(person(p[0].id), cohort)
        assert not permissions.is_cohort_participant(person(programme.not_selected.id), cohort)
        assert not permissions.is_cohort_participant(person(p[0].id), other)
        assert permissions.can_manage_cohorts(person(org.hr.id))
        assert not permissions.can_manage_cohorts(person(org.manager_a.id))
