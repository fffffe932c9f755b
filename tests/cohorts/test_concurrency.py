"""Races of the cohort programme through the real web stack, on SQLite and PostgreSQL
(ARCHITECTURE.md rules 3, 4 and 11): two HR users selecting at the same moment never exceed the
quota or a department's cap; a withdrawal, a decline or a recorded withdrawal clicked several
times frees a place once; HR selecting while the applicant withdraws, a manager endorsing while
the applicant withdraws, results published twice, a mentor reviewing twice and two members
submitting at once each take effect once. Every loser is told what happened, in Japanese, on the
page it is redirected to: never a 500, a 403 or a second effect; every move is in the audit log
exactly once, and the place counters equal the selected rows.

Like tests/enrollment/test_race.py, this runs on a freshly migrated database of its own with
real commits, served by werkzeug's threaded server on 127.0.0.1 (not the `app` fixture and its
rolled-back transaction: racing requests must see each other's commits). The connections are
opened beforehand and the requests released together by a barrier.
"""
from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from app.audit.models import AuditEvent
from app.cohorts import queries, services
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    DepartmentCap,
    MilestoneKind,
    Review,
    Submission,
    SubmissionStatus,
)
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit
from app.reminders.models import Notification
from tests import factories
from tests.cohorts.conftest import apply_for
from tests.confirming import previewed
from tests.conftest import build_app, migrate
from tests.http_client import HttpClient, Response, release_together, serve_in_thread
from tests.racing import Post, assert_all_redirected, post_at_once, told


@dataclass
class Race:
    cohort_id: int
    quota: int
    caps: dict[int, int]  # department id -> cap
    applications: list[int]  # endorsed, undecided


@dataclass
class Site:
    port: int
    app: Flask
    hr_logins: list[str]
    quota_race: Race  # the quota binds: caps leave room for more than the quota
    cap_race: Race  # the caps bind: their sum is below the quota
    divisions: list[int]  # a division in each department (whose head endorses)
    managers: list[str]  # the departments' heads, in the same order
    errors: list[BaseException] = field(default_factory=list)

    def browser(self, login: str) -> HttpClient:
        return HttpClient("127.0.0.1", self.port).sign_in(login)


def _race(quota: int, departments: list, caps: dict, per_department: int) -> Race:  # type: ignore[type-arg]
    cohort = factories.cohort(quota=quota, caps=caps)
    applications = []
    for _department, division in departments:
        for _ in range(per_department):
            applicant = factories.employee(division, "SHUNIN")
            applications.append(apply_for(cohort.id, applicant.id))  # endorsed by the department's head
    # interleave the departments, so each department's requests are spread over both HR users
    applications = [applications[i] for k in range(per_department)
                    for i in range(k, len(applications), per_department)]
    return Race(cohort.id, quota, {unit.id: cap for unit, cap in caps.items()}, applications)


@pytest.fixture(scope="module")
def site(make_database_url: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from app.org.reference import ensure_grades

    application = build_app(make_database_url(), Path(tmp_path_factory.mktemp("cohort-race-uploads")))
    migrate(application)
    with application.app_context():
        ensure_grades()
        db_session.commit()
        departments, managers = [], []
        for name in ("総務部", "健康福祉部", "県土整備部"):
            department = factories.unit(name)
            managers.append(factories.employee(department, "BUCHO", heads=department).employee_number)
            departments.append((department, factories.unit(f"{name}企画課", parent=department)))
        human_resources = factories.unit("人事課")
        hr_logins = [factories.employee(human_resources, "SHUSA", roles=(RoleName.HR,)).employee_number
                     for _ in range(2)]
        (a, _), (b, _), (c, _) = departments
        quota_race = _race(10, departments, {a: 3, b: 4}, per_department=14)
        cap_race = _race(20, departments, {a: 3, b: 4, c: 5}, per_department=14)

        divisions = [division.id for _department, division in departments]

    with serve_in_thread(application, "cohort-live-server") as (port, errors):
        yield Site(port, application, hr_logins, quota_race, cap_race, divisions, managers, errors)



@pytest.fixture(autouse=True)
def _fresh_errors(site: Site) -> None:
    site.errors.clear()  # each test answers for its own requests

def _select_all_at_once(site: Site, race: Race) -> list[Response | BaseException]:
    """Both HR users post "select" for every application of the race, released by one barrier."""
    path = f"/cohorts/{race.cohort_id}/selection"
    browsers = [HttpClient("127.0.0.1", site.port).sign_in(login) for login in site.hr_logins]
    tokens = [browser.csrf_token(path) for browser in browsers]
    jobs = [(browsers[i % 2], tokens[i % 2], application_id) for i, application_id in enumerate(race.applications)]
    connections: list[http.client.HTTPConnection] = []
    try:
        for browser, _token, _id in jobs:
            connections.append(browser.connect())
    except BaseException:
        for connection in connections:
            connection.close()
        raise
    return release_together(
        [lambda connection, job=job: job[0].request(
            "POST", path, {"csrf_token": job[1], "action": "selected", "application_id": str(job[2])}, connection)
         for job in jobs], connections)


def _check(site: Site, race: Race, results: list[Response | BaseException]) -> dict[int, int]:
    failures = [r if isinstance(r, BaseException) else (r.status, r.text[:300])
                for r in results if isinstance(r, BaseException) or r.status != 302]
    assert not failures, failures[:5]
    assert not site.errors, site.errors[:5]
    with site.app.app_context():
        cohort = db_session.get(Cohort, race.cohort_id)
        rows = list(db_session.scalars(select(Application).where(Application.cohort_id == race.cohort_id)))
        selected = [a for a in rows if a.decision == Decision.SELECTED]
        assert {a.decision for a in rows} <= {Decision.SELECTED, Decision.UNDECIDED}
        by_department: dict[int, int] = {}
        for row in selected:
            by_department[row.department_id] = by_department.get(row.department_id, 0) + 1
        caps = {c.unit_id: c for c in db_session.scalars(select(DepartmentCap).where(
            DepartmentCap.cohort_id == race.cohort_id))}
        for unit_id, cap in race.caps.items():
            assert by_department.get(unit_id, 0) <= cap
            assert caps[unit_id].selected_count == by_department.get(unit_id, 0)
        assert cohort.selected_count == len(selected)
        assert db_session.scalar(select(func.count()).select_from(Application).where(
            Application.cohort_id == race.cohort_id, Application.decision == Decision.SELECTED)) == len(selected)
        return by_department


def test_two_hr_users_selecting_at_once_fill_the_quota_exactly(site: Site) -> None:
    race = site.quota_race
    by_department = _check(site, race, _select_all_at_once(site, race))
    assert sum(by_department.values()) == race.quota
    with site.app.app_context():
        assert db_session.get(Cohort, race.cohort_id).selected_count == race.quota


def test_two_hr_users_selecting_at_once_never_exceed_a_department_cap(site: Site) -> None:
    race = site.cap_race
    by_department = _check(site, race, _select_all_at_once(site, race))
    assert by_department == race.caps  # every cap filled exactly, none exceeded
    with site.app.app_context():
        assert db_session.get(Cohort, race.cohort_id).selected_count == sum(race.caps.values()) < race.quota


# --- releases, withdrawals and the other moves of an application ----------------------------


@dataclass
class Applicant:
    login: str
    name: str
    application_id: int


def _cohort_with_applicants(site: Site, count: int, *, quota: int = 10, selected: int = 0,
                            endorse: bool = True, with_caps: bool = True) -> tuple[int, list[Applicant]]:
    """A fresh open cohort (each department capped at `quota`) with `count` applicants spread over
    the departments; the first `selected` of them are selected by HR. Committed."""
    with site.app.app_context():
        caps = {db_session.get(Unit, unit_id).parent: quota for unit_id in site.divisions} if with_caps else {}
        cohort = factories.cohort(quota=quota, caps=caps)
        hr = db_session.scalar(select(Employee).where(Employee.employee_number == site.hr_logins[0]))
        applicants = []
        for i in range(count):
            person = factories.employee(db_session.get(Unit, site.divisions[i % len(site.divisions)]), "SHUNIN")
            application_id = apply_for(cohort.id, person.id, endorse=endorse)
            if i < selected:
                services.decide(hr, db_session.get(Application, application_id), Decision.SELECTED)
                db_session.commit()
            applicants.append(Applicant(person.employee_number, person.name, application_id))
        return cohort.id, applicants


def _places_match_rows(site: Site, cohort_id: int) -> int:
    """Assert the cohort's and every cap's counter equal the selected rows; return the selected."""
    with site.app.app_context():
        rows = list(db_session.scalars(select(Application).where(Application.cohort_id == cohort_id)))
        assert not [a.id for a in rows if a.is_withdrawn and a.decision == Decision.SELECTED]
        selected = [a for a in rows if a.decision == Decision.SELECTED]
        assert db_session.get(Cohort, cohort_id).selected_count == len(selected)
        for cap in db_session.scalars(select(DepartmentCap).where(DepartmentCap.cohort_id == cohort_id)):
            assert cap.selected_count == sum(1 for a in selected if a.department_id == cap.unit_id), cap.unit_id
        return len(selected)


def _audit(site: Site, application_id: int, action: str) -> int:
    with site.app.app_context():
        return db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.target_type == "cohort_application", AuditEvent.target_id == str(application_id),
            AuditEvent.action == action))


def _posts(browsers: list[HttpClient], path: str, data: dict[str, str]) -> list[Post]:
    return [Post(b, path, {**data, "csrf_token": b.csrf_token(path)}) for b in browsers]


def test_the_same_withdrawal_clicked_three_times_frees_one_place(site: Site) -> None:
    cohort_id, (applicant, _other) = _cohort_with_applicants(site, 2, quota=2, selected=2)
    path = f"/cohorts/{cohort_id}"
    browsers = [site.browser(applicant.login) for _ in range(3)]  # three tabs, each its own session

    results = post_at_once(_posts(browsers, path, {"action": "withdraw"}))

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert messages == ["この応募は既に取り下げられています。"] * 2 + ["応募を取り下げました。"]
    assert _places_match_rows(site, cohort_id) == 1  # the other applicant keeps their place
    assert _audit(site, applicant.application_id, "cohorts.application_withdrawn") == 1
    with site.app.app_context():
        row = db_session.get(Application, applicant.application_id)
        assert row.is_withdrawn and row.decision == Decision.DECLINED


def test_apply_clicked_three_times_at_once_applies_once(site: Site) -> None:
    cohort_id, _none = _cohort_with_applicants(site, 0)
    with site.app.app_context():
        login = factories.employee(db_session.get(Unit, site.divisions[1]), "SHUNIN").employee_number
    path = f"/cohorts/{cohort_id}"
    browsers = [site.browser(login) for _ in range(3)]
    form = {"intent": "apply", "statement": "窓口のデジタル化", "theme": "smart_workstyle", "answer-0": "申請の電子化"}

    results = post_at_once(_posts(browsers, path, form))

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert messages == sorted(["応募ありがとうございます。所属長に推薦を依頼しました。"]
                              + ["この期には既に応募しています。"] * 2), messages
    with site.app.app_context():
        (application_id,) = db_session.scalars(select(Application.id).where(Application.cohort_id == cohort_id))
    assert _audit(site, application_id, "cohorts.applied") == 1


@pytest.mark.parametrize("action", ["declined", "undecided", "withdraw"])
def test_a_release_clicked_by_two_hr_users_at_once_frees_the_place_once(site: Site, action: str) -> None:
    cohort_id, applicants = _cohort_with_applicants(site, 3, quota=3, selected=3)
    target = applicants[0]
    path = f"/cohorts/{cohort_id}/selection"
    browsers = [site.browser(login) for login in site.hr_logins] + [site.browser(site.hr_logins[0])]

    results = post_at_once(_posts(browsers, path, {"action": action, "application_id": str(target.application_id),
                                                   "from": "selected", "reason": "異動のため"}))

    assert_all_redirected(results, site.errors)
    told_each = [told(b, r) for b, r in zip(browsers, results, strict=True)]
    won = {"declined": f"保存しました：{target.name} さん。", "undecided": f"保存しました：{target.name} さん。",
           "withdraw": f"{target.name} さんの辞退を記録しました。補欠はいません。"}[action]
    lost = {"declined": f"{target.name} さんは既に選考外です。",
            "undecided": f"{target.name} さんは既に未決定に戻されています。",
            "withdraw": f"{target.name} さんの辞退は既に記録されています。"}[action]
    assert sorted(m for messages in told_each for m in messages) == sorted([won, lost, lost])
    assert _places_match_rows(site, cohort_id) == 2
    audit_action = "cohorts.participant_withdrawn" if action == "withdraw" else "cohorts.decision"
    assert _audit(site, target.application_id, audit_action) == (1 if action == "withdraw" else 2)  # + the select


def test_hr_selecting_while_the_applicants_withdraw(site: Site) -> None:
    cohort_id, applicants = _cohort_with_applicants(site, 6, quota=10)
    hr = [site.browser(login) for login in site.hr_logins]
    selection = f"/cohorts/{cohort_id}/selection"
    hr_tokens = [b.csrf_token(selection) for b in hr]
    posts = []
    for i, applicant in enumerate(applicants):
        browser = site.browser(applicant.login)
        posts.append(Post(browser, f"/cohorts/{cohort_id}", {"action": "withdraw",
                                                            "csrf_token": browser.csrf_token(f"/cohorts/{cohort_id}")}))
        posts.append(Post(hr[i % 2], selection, {"action": "selected", "application_id": str(applicant.application_id),
                                                 "from": "undecided", "csrf_token": hr_tokens[i % 2]}))

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    for i, applicant in enumerate(applicants):
        assert told(posts[2 * i].client, results[2 * i]) == ["応募を取り下げました。"]  # always possible
        assert _audit(site, applicant.application_id, "cohorts.application_withdrawn") == 1
        assert _audit(site, applicant.application_id, "cohorts.decision") <= 1
    assert _places_match_rows(site, cohort_id) == 0  # selected first, then freed by the withdrawal
    with site.app.app_context():
        assert all(db_session.get(Application, a.application_id).is_withdrawn for a in applicants)


def test_hr_selecting_a_withdrawn_applicant_is_told_so(site: Site) -> None:
    cohort_id, (applicant,) = _cohort_with_applicants(site, 1)
    browser = site.browser(applicant.login)
    hr = site.browser(site.hr_logins[0])
    selection = f"/cohorts/{cohort_id}/selection"
    token = hr.csrf_token(selection)  # HR's page still shows the application
    withdrawn = browser.post(f"/cohorts/{cohort_id}", {"action": "withdraw",
                                                       "csrf_token": browser.csrf_token(f"/cohorts/{cohort_id}")})
    assert withdrawn.status == 302
    response = hr.post(selection, {"action": "selected", "application_id": str(applicant.application_id),
                                   "from": "undecided", "csrf_token": token})
    assert response.status == 302
    assert told(hr, response) == [f"{applicant.name} さんの応募は取り下げられました。"]
    assert _places_match_rows(site, cohort_id) == 0


def test_two_hr_users_selecting_the_last_place_at_once(site: Site) -> None:
    cohort_id, applicants = _cohort_with_applicants(site, 3, quota=2, selected=1)
    path = f"/cohorts/{cohort_id}/selection"
    browsers = [site.browser(login) for login in site.hr_logins]
    posts = [Post(b, path, {"action": "selected", "application_id": str(a.application_id), "from": "undecided",
                            "csrf_token": b.csrf_token(path)})
             for b, a in zip(browsers, applicants[1:], strict=True)]

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    messages = sorted(m for post, r in zip(posts, results, strict=True) for m in told(post.client, r))
    assert len(messages) == 2 and "定員 2 人に達しています。" in messages
    assert _places_match_rows(site, cohort_id) == 2


def test_a_decision_changed_meanwhile_is_not_overwritten(site: Site) -> None:
    cohort_id, (applicant,) = _cohort_with_applicants(site, 1)
    path = f"/cohorts/{cohort_id}/selection"
    first, second = (site.browser(login) for login in site.hr_logins)
    data = {"application_id": str(applicant.application_id), "from": "undecided"}
    assert first.post(path, {**data, "action": "selected", "csrf_token": first.csrf_token(path)}).status == 302
    response = second.post(path, {**data, "action": "declined", "csrf_token": second.csrf_token(path)})
    assert told(second, response) == [f"{applicant.name} さんの選考結果は他の担当者が変更しました。"
                                      "確認してからもう一度操作してください。"]
    assert _places_match_rows(site, cohort_id) == 1


def test_a_manager_endorsing_while_the_applicant_withdraws(site: Site) -> None:
    cohort_id, applicants = _cohort_with_applicants(site, 3, endorse=False)
    manager = site.browser(site.managers[0])  # heads the department of applicants[0]
    endorsements = "/cohorts/endorsements"
    token = manager.csrf_token(endorsements)
    applicant = applicants[0]
    browser = site.browser(applicant.login)
    posts = [Post(browser, f"/cohorts/{cohort_id}",
                  {"action": "withdraw", "csrf_token": browser.csrf_token(f"/cohorts/{cohort_id}")}),
             Post(manager, endorsements, {"application_id": str(applicant.application_id), "decision": "endorse",
                                          "comment": "推薦します", "csrf_token": token})]
    twice = site.browser(site.managers[0])  # the same manager, a second tab
    posts.append(Post(twice, endorsements, {"application_id": str(applicant.application_id), "decision": "endorse",
                                            "comment": "推薦します", "csrf_token": twice.csrf_token(endorsements)}))

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    assert told(browser, results[0]) == ["応募を取り下げました。"]
    manager_messages = sorted(m for post, r in zip(posts[1:], results[1:], strict=True) for m in told(post.client, r))
    endorsed = _audit(site, applicant.application_id, "cohorts.endorsement")
    assert endorsed <= 1
    withdrawn = f"{applicant.name} さんの応募は取り下げられました。"
    already = f"{applicant.name} さんの応募については、既に推薦の判断が記録されています。"
    if endorsed:  # the other tab came too late: after the endorsement, or after the withdrawal too
        assert manager_messages in (sorted(["判断を記録しました。", already]),
                                    sorted(["判断を記録しました。", withdrawn]))
    else:
        assert manager_messages == [withdrawn, withdrawn]
    assert _audit(site, applicant.application_id, "cohorts.application_withdrawn") == 1


def test_results_published_twice_at_once_are_published_once(site: Site) -> None:
    cohort_id, applicants = _cohort_with_applicants(site, 3, selected=1)
    with site.app.app_context():  # applications have closed
        db_session.execute(update(Cohort).where(Cohort.id == cohort_id).values(
            applications_open_at=now() - timedelta(days=20), applications_close_at=now() - timedelta(minutes=1)))
        db_session.commit()
    path = f"/cohorts/{cohort_id}/selection"
    browsers = [site.browser(login) for login in site.hr_logins] + [site.browser(site.hr_logins[1])]

    # each opened the preview of who is told what, and all press its confirm button at once
    results = post_at_once([Post(b, *previewed(b, path, {"action": "publish", "csrf_token": b.csrf_token(path)}))
                            for b in browsers])

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert messages == sorted(["選考結果を公表し、応募者 3 人に通知します。"]
                              + ["選考結果は既に公表されています。"] * 2)
    with site.app.app_context():
        notices = db_session.scalars(select(Notification).where(Notification.kind == "cohort_result",
                                                                Notification.recipient_id.in_(select(
                                                                    Application.employee_id).where(
                                                                    Application.cohort_id == cohort_id))))
        assert sorted(n.context["application_id"] for n in notices) == sorted(a.application_id for a in applicants)
        assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "cohorts.results_published", AuditEvent.target_id == str(cohort_id))) == 1


# --- fieldwork: submissions and reviews ---------------------------------------------------------


@dataclass
class Fieldwork:
    cohort_id: int
    members: list[str]  # logins of the team's two members
    mentor: str
    plan_id: int


def _fieldwork(site: Site) -> Fieldwork:
    cohort_id, applicants = _cohort_with_applicants(site, 2, selected=2)
    with site.app.app_context():
        cohort = db_session.get(Cohort, cohort_id)
        hr = db_session.scalar(select(Employee).where(Employee.employee_number == site.hr_logins[0]))
        mentor = factories.employee(factories.unit("外部メンター"), "KACHO", roles=(RoleName.MENTOR,))
        members = [db_session.scalar(select(Employee).where(Employee.employee_number == a.login)) for a in applicants]
        services.form_team(hr, cohort, "チーム同時", db_session.get(Unit, site.divisions[0]), "smart_government",
                           "課題", members, [mentor])
        db_session.commit()
        plan = next(m.id for m in queries.milestones(cohort_id) if m.kind == MilestoneKind.PLAN)
        return Fieldwork(cohort_id, [a.login for a in applicants], mentor.employee_number, plan)


def _submissions(site: Site, milestone_id: int) -> list[Submission]:
    with site.app.app_context():
        return list(db_session.scalars(select(Submission).where(Submission.milestone_id == milestone_id)
                                       .order_by(Submission.id)))


def test_two_members_submitting_at_once_make_one_version(site: Site) -> None:
    work = _fieldwork(site)
    path = f"/cohorts/{work.cohort_id}/work"
    browsers = [site.browser(login) for login in work.members] + [site.browser(work.members[0])]

    results = post_at_once(_posts(browsers, path, {"milestone_id": str(work.plan_id), "text": "計画書"}))

    assert_all_redirected(results, site.errors)
    messages = sorted(m for b, r in zip(browsers, results, strict=True) for m in told(b, r))
    assert messages.count("提出しました。メンターに確認を依頼しました。") == 1, messages
    assert len(messages) == 3
    (submission,) = _submissions(site, work.plan_id)
    assert submission.version == 1
    with site.app.app_context():
        assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "cohorts.submitted", AuditEvent.target_id == str(submission.id))) == 1


def test_a_mentor_reviewing_twice_at_once_reviews_once(site: Site) -> None:
    work = _fieldwork(site)
    member = site.browser(work.members[0])
    path = f"/cohorts/{work.cohort_id}/work"
    assert member.post(path, {"milestone_id": str(work.plan_id), "text": "計画書",
                              "csrf_token": member.csrf_token(path)}).status == 302
    (submission,) = _submissions(site, work.plan_id)
    review_path = f"/cohorts/submissions/{submission.id}"
    browsers = [site.browser(work.mentor) for _ in range(2)] + [site.browser(site.hr_logins[0])]
    posts = [Post(b, review_path, {"decision": decision, "comment": "目標を数値で",
                                   "csrf_token": b.csrf_token(review_path)})
             for b, decision in zip(browsers, ("accept", "accept", "return"), strict=True)]

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    messages = sorted(m for post, r in zip(posts, results, strict=True) for m in told(post.client, r))
    assert messages == sorted(["確認結果を保存しました。"] + ["この提出物は確認済みです。"] * 2)
    with site.app.app_context():
        reviews = list(db_session.scalars(select(Review).where(Review.submission_id == submission.id)))
        assert len(reviews) == 1
        status = db_session.get(Submission, submission.id).status
        assert status == (SubmissionStatus.ACCEPTED if reviews[0].accepted else SubmissionStatus.RETURNED)
        assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "cohorts.reviewed", AuditEvent.target_id == str(submission.id))) == 1


def test_two_mentors_scoring_the_rubric_at_once_store_one_scored_review(site: Site) -> None:
    """Each scores every criterion of the presentation's rubric differently: one review is kept,
    whole (its scores, points and the rubric it was graded by agree), audited once with its scores."""
    work = _fieldwork(site)
    with site.app.app_context():
        presentation = next(m.id for m in queries.milestones(work.cohort_id) if m.kind == MilestoneKind.PRESENTATION)
    member = site.browser(work.members[0])
    path = f"/cohorts/{work.cohort_id}/work"
    assert member.post(path, {"milestone_id": str(presentation), "text": "発表資料",
                              "csrf_token": member.csrf_token(path)}).status == 302
    (submission,) = _submissions(site, presentation)
    review_path = f"/cohorts/submissions/{submission.id}"
    browsers = [site.browser(work.mentor) for _ in range(2)] + [site.browser(site.hr_logins[0])]
    scorings = [("0", "0", "0"), ("1", "2", "3"), ("3", "3", "1")]
    posts = []
    for browser, levels in zip(browsers, scorings, strict=True):
        page = browser.get(review_path).text
        version = page.split('name="rubric_version" value="')[1].split('"')[0]
        posts.append(Post(browser, review_path, {
            "decision": "accept", "comment": "", "rubric_version": version,
            "csrf_token": browser.csrf_token(review_path),
            **{f"criterion-{i}": level for i, level in enumerate(levels)}}))

    results = post_at_once(posts)

    assert_all_redirected(results, site.errors)
    messages = sorted(m for post, r in zip(posts, results, strict=True) for m in told(post.client, r))
    assert messages == sorted(["確認結果を保存しました。"] + ["この提出物は確認済みです。"] * 2)
    with site.app.app_context():
        (review,) = db_session.scalars(select(Review).where(Review.submission_id == submission.id))
        levels = tuple(review.scores[str(i)] for i in range(3))
        assert tuple(str(level) for level in levels) in scorings
        points = {0: 4, 1: 3, 2: 2, 3: 0}
        assert (review.points, review.max_points) == (sum(points[level] for level in levels), 12)
        assert [c["name"] for c in review.rubric] == ["課題設定", "解決策の実効性", "発表・伝達"]
        (audited,) = db_session.scalars(select(AuditEvent.after).where(
            AuditEvent.action == "cohorts.reviewed", AuditEvent.target_id == str(submission.id)))
        assert list(audited["scores"]) == ["課題設定", "解決策の実効性", "発表・伝達"]
