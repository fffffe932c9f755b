"""Every route, every role: who gets in. A route missing from ACCESS fails the suite, and so does
a view without a permissions decorator (default deny is only real if nothing slips through)."""
from __future__ import annotations

import pytest

from app.org.models import RoleName
from tests import factories

ROLES = ("anonymous", "employee", "manager", "instructor", "mentor", "hr", "admin")
ALL_SIGNED_IN = frozenset(ROLES) - {"anonymous"}

# endpoint -> (method, path template, roles allowed). "{other}" is a member of the manager's team.
ACCESS: dict[str, tuple[str, str, frozenset[str]]] = {
    "core.home": ("GET", "/", ALL_SIGNED_IN),
    "core.healthz": ("GET", "/healthz", frozenset(ROLES)),
    "core.ping": ("GET", "/ping", frozenset(ROLES)),
    "auth.login": ("GET", "/login", frozenset(ROLES)),
    "auth.logout": ("POST", "/logout", frozenset(ROLES)),
    "auth.change_password": ("GET", "/account/password", ALL_SIGNED_IN),
    "auth.set_locale_view": ("POST", "/locale", frozenset(ROLES)),
    "org.staff": ("GET", "/org/staff", frozenset({"hr", "admin"})),
    "org.units": ("GET", "/org/units", frozenset({"hr", "admin"})),
    "org.employee_detail": ("GET", "/org/staff/{other}", frozenset({"manager", "hr", "admin"})),
    "org.temporary_password": ("POST", "/org/staff/{other}/temporary-password", frozenset({"hr", "admin"})),
    "org.update_roles": ("POST", "/org/staff/{other}/roles", frozenset({"admin"})),
    "org.staff_import": ("GET", "/org/import", frozenset({"hr"})),
    "org.staff_import_apply": ("POST", "/org/import/apply", frozenset({"hr"})),
    "audit.events": ("GET", "/admin/audit/", frozenset({"admin"})),
    "catalog.index": ("GET", "/catalog/", ALL_SIGNED_IN),
    "catalog.course": ("GET", "/catalog/courses/{course}", ALL_SIGNED_IN),
    "catalog.design": ("GET", "/catalog/design/", frozenset({"hr"})),
    "catalog.new_course": ("GET", "/catalog/design/new", frozenset({"hr"})),
    "catalog.edit_course": ("GET", "/catalog/design/{course}/edit", frozenset({"hr"})),
    "catalog.preview": ("POST", "/catalog/design/preview", frozenset({"hr"})),
    "catalog.publish": ("POST", "/catalog/design/{course}/publish", frozenset({"hr"})),
    "catalog.retire": ("POST", "/catalog/design/{course}/retire", frozenset({"hr"})),
    "catalog.export": ("GET", "/catalog/design/{course}/export", frozenset({"hr"})),
    "catalog.versions": ("GET", "/catalog/design/{course}/versions", frozenset({"hr"})),
    "catalog.rules": ("GET", "/catalog/rules", frozenset({"hr"})),
    "catalog.deactivate_rule": ("POST", "/catalog/rules/{rule}/deactivate", frozenset({"hr"})),
    "scheduling.course_sessions": ("GET", "/sessions/course/{course}", frozenset({"hr"})),
    "scheduling.new_session": ("GET", "/sessions/course/{course}/new", frozenset({"hr"})),
    "scheduling.edit_session": ("GET", "/sessions/{session}/edit", frozenset({"hr"})),
    "scheduling.cancel": ("POST", "/sessions/{session}/cancel", frozenset({"hr"})),
    "enrollment.enrol_view": ("POST", "/sessions/{session}/enrol", ALL_SIGNED_IN),
    "enrollment.roster": ("GET", "/sessions/{session}/enrolments", frozenset({"hr"})),
    "enrollment.enrol_many_view": ("POST", "/sessions/{session}/enrol-many", frozenset({"hr"})),
    "enrollment.detail": ("GET", "/enrolments/{enrolment}", frozenset({"manager", "hr", "admin"})),
    "enrollment.cancel_view": ("POST", "/enrolments/{enrolment}/cancel", frozenset({"manager", "hr", "admin"})),
    "enrollment.enrolment_ics": ("GET", "/enrolments/{enrolment}/calendar.ics", frozenset({"manager", "hr", "admin"})),
    "enrollment.promote": ("POST", "/enrolments/{enrolment}/promote", frozenset({"hr"})),
    "enrollment.approvals": ("GET", "/approvals", frozenset({"manager", "hr"})),
    "enrollment.my_learning": ("GET", "/my-learning", ALL_SIGNED_IN),
    "enrollment.feed": ("GET", "/calendar/not-a-real-token-at-all-xx.ics", frozenset(ROLES)),
    "enrollment.reset_feed": ("POST", "/calendar/reset", ALL_SIGNED_IN),
    "reminders.inbox": ("GET", "/notifications", ALL_SIGNED_IN),
    "reminders.show": ("GET", "/notifications/{notification}", frozenset()),  # only the recipient ("other")
    "reminders.read_all": ("POST", "/notifications/read-all", ALL_SIGNED_IN),
    "reminders.preferences": ("GET", "/account/notifications", ALL_SIGNED_IN),
    "reminders.outbox": ("GET", "/admin/outbox", frozenset({"hr"})),
    "reminders.resend_view": ("POST", "/admin/outbox/{notification}/resend", frozenset({"hr"})),
    "reminders.settings": ("GET", "/admin/outbox/settings", frozenset({"hr"})),
    "reminders.templates": ("GET", "/admin/outbox/templates", frozenset({"hr"})),
    "reminders.edit_template": ("GET", "/admin/outbox/templates/enrolment_confirmed/ja", frozenset({"hr"})),
    "attendance.teaching": ("GET", "/attendance/teaching", ALL_SIGNED_IN),
    "attendance.roster": ("GET", "/attendance/meetings/{meeting}", frozenset({"hr"})),
    "attendance.checkin_screen": ("GET", "/attendance/meetings/{meeting}/check-in-screen", frozenset({"hr"})),
    "attendance.checkin_code": ("GET", "/attendance/meetings/{meeting}/code.json", frozenset({"hr"})),
    "attendance.checkin_qr": ("GET", "/attendance/meetings/{meeting}/qr.svg", frozenset({"hr"})),
    "attendance.check_in": ("GET", "/attendance/check-in/{meeting}", ALL_SIGNED_IN),
    "attendance.upload_participants": ("POST", "/attendance/meetings/{meeting}/participants", frozenset({"hr"})),
    "attendance.apply_participants": ("POST", "/attendance/meetings/{meeting}/participants/apply",
                                      frozenset({"hr"})),
    "assessment.take_quiz": ("GET", "/enrolments/{enrolment}/quiz", frozenset()),  # only the participant
    "assessment.quiz_result": ("GET", "/enrolments/{enrolment}/quiz/result", frozenset()),
    "assessment.answer_survey": ("GET", "/enrolments/{enrolment}/survey", frozenset()),
    "assessment.grading": ("GET", "/grading", frozenset({"instructor", "hr"})),
    "assessment.grade_attempt": ("GET", "/grading/attempts/999999", frozenset({"instructor", "hr"})),
    "assessment.survey_results": ("GET", "/catalog/design/{course}/survey-results", frozenset({"hr"})),
    "assessment.edit_quiz": ("GET", "/catalog/design/{course}/quiz", frozenset({"hr"})),
    "completion.my_transcript": ("GET", "/transcript", ALL_SIGNED_IN),
    "completion.transcript": ("GET", "/staff/{other}/transcript", frozenset({"manager", "hr", "admin"})),
    "completion.transcript_csv": ("GET", "/staff/{other}/transcript.csv", frozenset({"manager", "hr", "admin"})),
    "completion.certificate": ("GET", "/certificates/NOPE1-NOPE2-XXXX", ALL_SIGNED_IN),  # unknown: 404
    "completion.certificate_pdf": ("GET", "/certificates/NOPE1-NOPE2-XXXX.pdf", ALL_SIGNED_IN),
    "completion.verify": ("GET", "/verify", frozenset(ROLES)),
    "completion.record": ("GET", "/completions/record", frozenset({"hr"})),
    "cohorts.index": ("GET", "/cohorts/", ALL_SIGNED_IN),
    "cohorts.detail": ("GET", "/cohorts/{cohort}", ALL_SIGNED_IN),
    "cohorts.endorsements": ("GET", "/cohorts/endorsements", frozenset({"manager"})),
    "cohorts.manage": ("GET", "/cohorts/manage", frozenset({"hr"})),
    "cohorts.selection": ("GET", "/cohorts/{cohort}/selection", frozenset({"hr"})),
    "cohorts.teams": ("GET", "/cohorts/{cohort}/teams", frozenset({"hr"})),
    "cohorts.set_milestone": ("POST", "/cohorts/{cohort}/milestones", frozenset({"hr"})),
    "cohorts.board": ("GET", "/cohorts/{cohort}/board", frozenset({"hr"})),
    "cohorts.work": ("GET", "/cohorts/{cohort}/work", frozenset()),  # selected participants only
    "cohorts.abstract": ("POST", "/cohorts/{cohort}/abstract", frozenset()),  # team members only
    "cohorts.submission": ("GET", "/cohorts/submissions/999999", frozenset()),
    "cohorts.download": ("GET", "/cohorts/files/999999", frozenset()),
    "cohorts.showcase": ("GET", "/cohorts/{cohort}/showcase", ALL_SIGNED_IN),
    "reports.team": ("GET", "/team", frozenset({"manager"})),
    "reports.team_csv": ("GET", "/team/export.csv", frozenset({"manager"})),
    "reports.team_xlsx": ("GET", "/team/export.xlsx", frozenset({"manager"})),
    "reports.dashboard": ("GET", "/reports/dashboard", frozenset({"hr"})),
    "reports.drilldown": ("GET", "/reports/drilldown", frozenset({"hr"})),
    "reports.plans": ("GET", "/reports/plans", frozenset({"hr"})),
    "reports.half_year": ("GET", "/reports/half-year", frozenset({"hr"})),
    "reports.half_year_xlsx": ("GET", "/reports/half-year.xlsx", frozenset({"hr"})),
    "reports.public_report": ("GET", "/public/reports/no-such-report", frozenset(ROLES)),  # 404, never a login
    "reports.export_enrolments": ("GET", "/reports/export/enrolments.csv", frozenset({"hr"})),
    "reports.export_enrolments_xlsx": ("GET", "/reports/export/enrolments.xlsx", frozenset({"hr"})),
}


def test_every_view_declares_its_access(app):
    undeclared = [
        endpoint for endpoint, view in app.view_functions.items()
        if endpoint != "static" and not hasattr(view, "_access")
    ]
    assert undeclared == [], f"views without @public/@signed_in/@require: {undeclared}"


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints - set(ACCESS) == set(), "add these routes to ACCESS with who may use them"
    assert set(ACCESS) - endpoints == set(), "ACCESS lists routes that no longer exist"


@pytest.fixture
def people(app):
    with app.app_context():
        department = factories.unit("テスト部")
        division = factories.unit("テスト課", parent=department)
        elsewhere = factories.unit("別の課", parent=department)
        people = {
            "employee": factories.employee(elsewhere),
            "manager": factories.employee(division, "KACHO", heads=division),
            "instructor": factories.employee(elsewhere, roles=(RoleName.INSTRUCTOR,)),
            "mentor": factories.employee(elsewhere, roles=(RoleName.MENTOR,)),
            "hr": factories.employee(elsewhere, roles=(RoleName.HR,)),
            "admin": factories.employee(elsewhere, roles=(RoleName.ADMIN,)),
            "other": factories.employee(division),
        }
        ids = {name: (p.id, p.employee_number) for name, p in people.items()}
        course = factories.course()
        ids["course"] = (course.code, "")
        ids["rule"] = (factories.assignment_rule(course, "SHUNIN").id, "")
        session = factories.training_session(course)
        ids["session"] = (session.id, "")
        ids["meeting"] = (session.meetings[0].id, "")
        ids["cohort"] = (factories.cohort().id, "")
        ids["enrolment"] = (factories.enrolment(people["other"], session).id, "")
        from sqlalchemy import select

        from app.db import db_session
        from app.reminders.models import Notification

        ids["notification"] = (db_session.scalar(select(Notification.id).where(
            Notification.recipient_id == people["other"].id)), "")
        return ids


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ACCESS))
def test_access(app, people, endpoint, role):
    method, template, allowed = ACCESS[endpoint]
    client = app.test_client()
    if role != "anonymous":
        factories.login(client, people[role][1])
    path = template.format(**{name: value[0] for name, value in people.items()})
    if method == "GET":
        response = client.get(path)
    else:
        token = factories.csrf_token(client, "/login" if role == "anonymous" else "/account/password")
        response = client.post(path, data={"csrf_token": token})
    status = response.status_code
    assert status < 500
    if role in allowed:
        assert status not in (401, 403), f"{role} should reach {endpoint}"
        if endpoint != "auth.logout":  # signing out lands on the sign-in page by design
            assert not (status == 302 and response.headers["Location"].startswith("/login")), endpoint
    elif role == "anonymous":
        assert status == 302 and response.headers["Location"].startswith("/login"), endpoint
    else:
        assert status in (403, 404), f"{role} must not reach {endpoint} (got {status})"
