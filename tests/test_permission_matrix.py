"""Every route, every role: who gets in. A route missing from ACCESS fails the suite, and so does
a view without a permissions decorator (default deny is only real if nothing slips through)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.org.models import RoleName
from tests import factories
from tests.confirming import press_confirm

ROLES = ("anonymous", "employee", "manager", "instructor", "mentor", "hr", "admin")
ALL_SIGNED_IN = frozenset(ROLES) - {"anonymous"}

# endpoint -> (method, path template, roles allowed). "{other}" is a member of the manager's team.
ACCESS: dict[str, tuple[str, str, frozenset[str]]] = {
    "home.home": ("GET", "/", ALL_SIGNED_IN),
    "home.healthz": ("GET", "/healthz", frozenset(ROLES)),
    "home.ping": ("GET", "/ping", frozenset(ROLES)),
    "ops.metrics": ("GET", "/metrics", frozenset(ROLES)),  # no token configured: 404; tests/web/test_metrics.py
    "ops.operations": ("GET", "/admin/operations", frozenset({"admin"})),
    "auth.login": ("GET", "/login", frozenset(ROLES)),
    # The OAuth 2 token endpoint authenticates a client itself (tests/api/test_clients.py): no grant 400.
    "api_oauth.issue_token": ("POST", "/api/v1/oauth/token", frozenset(ROLES)),
    "auth.logout": ("POST", "/logout", frozenset(ROLES)),
    # OpenID Connect sign-in (tests/auth/test_oidc.py): no provider is configured here, so starting
    # one is 404; the provider's return address sends a callback nobody started back to the sign-in page.
    "auth.oidc_start": ("POST", "/login/oidc/nope", frozenset(ROLES)),
    "auth.oidc_callback": ("GET", "/login/oidc/nope/callback", frozenset(ROLES)),
    "auth.change_password": ("GET", "/account/password", ALL_SIGNED_IN),
    "auth.set_locale_view": ("POST", "/locale", frozenset(ROLES)),
    "auth.sessions": ("GET", "/account/sessions", ALL_SIGNED_IN),
    "auth.end_session": ("POST", "/account/sessions/999999/end", frozenset()),  # own sessions only: SESSION_RULES
    "auth.end_other_sessions_view": ("POST", "/account/sessions/end-others", ALL_SIGNED_IN),
    "auth.staff_sessions": ("GET", "/admin/staff/{other}/sessions", frozenset({"admin"})),
    "privacy.my_data": ("GET", "/account/my-data", ALL_SIGNED_IN),  # one's own data only: no id in the address
    "privacy.download_my_data": ("POST", "/account/my-data/download", ALL_SIGNED_IN),
    "privacy.disclosure": ("GET", "/admin/staff/{other}/disclosure", frozenset({"hr", "admin"})),
    "auth.end_staff_sessions": ("POST", "/admin/staff/{other}/sessions/end", frozenset({"admin"})),
    "auth.unlock": ("GET", "/account/unlock/not-a-real-unlock-token", frozenset(ROLES)),  # unknown: 404
    "org.staff": ("GET", "/org/staff", frozenset({"hr", "admin"})),
    "org.units": ("GET", "/org/units", frozenset({"hr", "admin"})),
    "org.employee_detail": ("GET", "/org/staff/{other}", frozenset({"manager", "hr", "admin"})),
    "org.temporary_password": ("POST", "/org/staff/{other}/temporary-password", frozenset({"hr", "admin"})),
    "org.update_roles": ("POST", "/org/staff/{other}/roles", frozenset({"admin"})),
    "org.staff_import": ("GET", "/org/import", frozenset({"hr"})),
    "org.set_head": ("POST", "/org/units/head", frozenset({"hr"})),
    "org.transfer": ("POST", "/org/staff/{other}/transfer", frozenset({"hr"})),
    "org.staff_import_apply": ("POST", "/org/import/apply", frozenset({"hr"})),
    # The pickers' searches (JSON): HR, who types the codes on the forms that have pickers.
    "org.search_people": ("GET", "/org/search/people?q=a", frozenset({"hr"})),
    "org.search_units": ("GET", "/org/search/units?q=a", frozenset({"hr"})),
    "catalog.search_courses": ("GET", "/catalog/search/courses?q=a", frozenset({"hr"})),
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
    "catalog.rollover": ("GET", "/catalog/rules/rollover?from_year=2026", frozenset({"hr"})),
    "catalog.apply_rollover_view": ("POST", "/catalog/rules/rollover", frozenset({"hr"})),
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
    "attendance.participants": ("GET", "/attendance/meetings/{meeting}/participant-lists", frozenset({"hr"})),
    "attendance.match_participant": ("POST", "/attendance/meetings/{meeting}/participants/match",
                                     frozenset({"hr"})),
    "assessment.take_quiz": ("GET", "/enrolments/{enrolment}/quiz", frozenset()),  # only the participant
    "assessment.start_quiz": ("POST", "/enrolments/{enrolment}/quiz/start", frozenset()),  # only the participant
    "assessment.quiz_result": ("GET", "/enrolments/{enrolment}/quiz/result", frozenset()),
    # E-learning: anyone signed in studies a published course's modules (their own progress only);
    # the course here has one module ("main") and no quiz, so its quiz pages are not found (404).
    "elearning.module": ("GET", "/learn/{course}/main", ALL_SIGNED_IN),
    "elearning.start": ("POST", "/learn/{course}/main/start", ALL_SIGNED_IN),
    "elearning.page": ("GET", "/learn/{course}/main/pages/1", ALL_SIGNED_IN),
    "elearning.read": ("POST", "/learn/{course}/main/pages/1/read", ALL_SIGNED_IN),
    "elearning.media": ("GET", "/elearning-media/{course}/figure.png", ALL_SIGNED_IN),  # none uploaded: 404
    "elearning.manage_media": ("GET", "/catalog/design/{course}/media", frozenset({"hr"})),
    "assessment.self_paced_quiz": ("GET", "/learn/{course}/main/quiz", ALL_SIGNED_IN),
    "assessment.self_paced_start": ("POST", "/learn/{course}/main/quiz/start", ALL_SIGNED_IN),
    "assessment.self_paced_result": ("GET", "/learn/{course}/main/quiz/result", ALL_SIGNED_IN),
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
    "cohorts.rubric": ("GET", "/cohorts/{cohort}/rubrics/plan", frozenset({"hr"})),
    "cohorts.work": ("GET", "/cohorts/{cohort}/work", frozenset()),  # selected participants only
    "cohorts.abstract": ("POST", "/cohorts/{cohort}/abstract", frozenset()),  # team members only
    "cohorts.submission": ("GET", "/cohorts/submissions/999999", frozenset()),
    "cohorts.download": ("GET", "/cohorts/files/999999", frozenset()),
    "cohorts.showcase": ("GET", "/cohorts/{cohort}/showcase", ALL_SIGNED_IN),
    "reports.team": ("GET", "/team", frozenset({"manager", "hr"})),
    "reports.team_csv": ("GET", "/team/export.csv", frozenset({"manager", "hr"})),
    "reports.team_xlsx": ("GET", "/team/export.xlsx", frozenset({"manager", "hr"})),
    "reports.compliance": ("GET", "/reports/compliance", frozenset({"hr", "admin"})),
    "reports.compliance_people": ("GET", "/reports/compliance/people?state=overdue", frozenset({"hr", "admin"})),
    "reports.compliance_csv": ("GET", "/reports/compliance/export.csv", frozenset({"hr", "admin"})),
    "reports.compliance_xlsx": ("GET", "/reports/compliance/export.xlsx", frozenset({"hr", "admin"})),
    "reports.dashboard": ("GET", "/reports/dashboard", frozenset({"hr"})),
    "reports.drilldown": ("GET", "/reports/drilldown", frozenset({"hr"})),
    "reports.plans": ("GET", "/reports/plans", frozenset({"hr"})),
    "reports.half_year": ("GET", "/reports/half-year", frozenset({"hr"})),
    "reports.half_year_xlsx": ("GET", "/reports/half-year.xlsx", frozenset({"hr"})),
    "reports.public_report": ("GET", "/public/reports/no-such-report", frozenset(ROLES)),  # 404, never a login
    "reports.public_report_csv": ("GET", "/public/reports/no-such-report/figures.csv", frozenset(ROLES)),
    "reports.public_report_xlsx": ("GET", "/public/reports/no-such-report/figures.xlsx", frozenset(ROLES)),
    "reports.export_enrolments": ("GET", "/reports/export/enrolments.csv", frozenset({"hr"})),
    "reports.export_enrolments_xlsx": ("GET", "/reports/export/enrolments.xlsx", frozenset({"hr"})),
    # A background job's page: whoever started it (here "employee"), and HR for any job.
    "jobs.show": ("GET", "/jobs/{job}", frozenset({"employee", "hr"})),
    # The API's reference and document are public; one's own API tokens on the account page.
    "api.openapi_json": ("GET", "/api/v1/openapi.json", frozenset(ROLES)),
    "api.docs": ("GET", "/api/v1/docs", frozenset(ROLES)),
    "api_tokens.index": ("GET", "/account/tokens", ALL_SIGNED_IN),
    "api_tokens.create": ("POST", "/account/tokens", ALL_SIGNED_IN),  # no fields sent: the form again (400)
    "api_tokens.revoke": ("POST", "/account/tokens/999999/revoke", frozenset()),  # own tokens only: 404
    "api_clients.index": ("GET", "/admin/api-clients", frozenset({"admin"})),
    "api_clients.create": ("POST", "/admin/api-clients", frozenset({"admin"})),  # no fields sent: the form (400)
    "api_clients.revoke": ("POST", "/admin/api-clients/mnbc_nobody/revoke", frozenset()),  # no such client: 404
}

# The JSON API (/api/v1): endpoint -> (method, path template, callers allowed), called with a
# token of every scope made for the role, and as "system": a system account (an OAuth 2 client of
# the personnel_system role, every scope it may have) (test_api_access). Without a token it is
# 401 for everyone, a signed-in browser's cookie included (test_api_ignores_the_session_cookie).
# "{enrolment}" is the team member's ("other"): nobody else's enrolment exists through the API (404).
API_CALLERS = (*ROLES, "system")
API_ACCESS: dict[str, tuple[str, str, frozenset[str]]] = {
    "api_me.who_am_i": ("GET", "/api/v1/me", ALL_SIGNED_IN | {"system"}),
    "api_catalog.list_courses": ("GET", "/api/v1/courses", ALL_SIGNED_IN | {"system"}),
    "api_catalog.get_course": ("GET", "/api/v1/courses/{course}", ALL_SIGNED_IN | {"system"}),
    "api_catalog.list_sessions": ("GET", "/api/v1/sessions", ALL_SIGNED_IN | {"system"}),
    "api_enrolments.list_my_enrolments": ("GET", "/api/v1/me/enrolments", ALL_SIGNED_IN),
    "api_enrolments.get_my_enrolment": ("GET", "/api/v1/me/enrolments/{enrolment}", frozenset()),
    "api_enrolments.enrol_me": ("POST", "/api/v1/sessions/{session}/enrolments", ALL_SIGNED_IN),
    "api_enrolments.cancel_my_enrolment": ("DELETE", "/api/v1/me/enrolments/{enrolment}", frozenset()),
    "api_approvals.list_approvals": ("GET", "/api/v1/approvals", frozenset({"manager", "hr"})),
    # the fixture's enrolment needed no approval (policy none, confirmed): nobody's to decide, 404 for
    # the manager and HR too; deciding a real request: tests/api/test_approvals.py
    "api_approvals.get_approval": ("GET", "/api/v1/approvals/{enrolment}", frozenset()),
    "api_approvals.decide_approval": ("POST", "/api/v1/approvals/{enrolment}/decision", frozenset()),
    "api_staff.post_staff_changes": ("POST", "/api/v1/staff/changes", frozenset({"hr", "system"})),
    # reports:organisation:read (HR, the personnel system) or reports:team:read (a manager: their
    # team's); the administrator holds neither. The fixture records no completion: one that does not
    # exist is a 404 for everyone allowed and a 403 for the rest (visibility: tests/api/test_completions.py)
    "api_completions.list_completions": ("GET", "/api/v1/completions", frozenset({"manager", "hr", "system"})),
    "api_completions.get_completion": ("GET", "/api/v1/completions/2147483647", frozenset()),
    "api_outbox.outbox_status": ("GET", "/api/v1/outbox", frozenset({"hr"})),
    "api_outbox.list_failures": ("GET", "/api/v1/outbox/failures", frozenset({"hr"})),
    # the fixture's session has no instructor: HR alone takes its attendance (the instructor: 404)
    "api_attendance.get_meeting_attendance": ("GET", "/api/v1/meetings/{meeting}/attendance", frozenset({"hr"})),
    "api_attendance.set_meeting_attendance": ("PUT", "/api/v1/meetings/{meeting}/attendance/{enrolment}",
                                              frozenset({"hr"})),
}


def test_every_view_declares_its_access(app):
    undeclared = [
        endpoint for endpoint, view in app.view_functions.items()
        if endpoint != "static" and not hasattr(view, "_access")
    ]
    assert undeclared == [], f"views without @public/@signed_in/@require: {undeclared}"


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints - set(ACCESS) - set(API_ACCESS) == set(), "add these routes to ACCESS with who may use them"
    assert (set(ACCESS) | set(API_ACCESS)) - endpoints == set(), "ACCESS lists routes that no longer exist"
    assert all(app.view_functions[e]._access.startswith("api:") for e in API_ACCESS), "API routes use api_token"


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
        course.modules_spec = [{"key": "main", "title": {"ja": "単元", "en": "Module"},  # e-learning
                                "pages": [{"title": "1", "body": "本文\n"}]}]
        ids["course"] = (course.code, "")
        ids["rule"] = (factories.assignment_rule(course, "SHUNIN").id, "")
        session = factories.training_session(course)
        ids["session"] = (session.id, "")
        ids["meeting"] = (session.meetings[0].id, "")
        ids["cohort"] = (factories.cohort().id, "")
        ids["enrolment"] = (factories.enrolment(people["other"], session).id, "")
        from sqlalchemy import select

        from app.core.db import db_session
        from app.reminders.models import Notification

        ids["notification"] = (db_session.scalar(select(Notification.id).where(
            Notification.recipient_id == people["other"].id)), "")
        from app.jobs.services import enqueue

        ids["job"] = (enqueue("test.matrix", {}, created_by=people["employee"]).id, "")
        db_session.commit()
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
        if endpoint not in ("auth.logout", "auth.oidc_callback"):  # these land on the sign-in page by design
            assert not (status == 302 and response.headers["Location"].startswith("/login")), endpoint
    elif role == "anonymous":
        assert status == 302 and response.headers["Location"].startswith("/login"), endpoint
    else:
        assert status in (403, 404), f"{role} must not reach {endpoint} (got {status})"


@pytest.mark.parametrize("role", API_CALLERS)
@pytest.mark.parametrize("endpoint", sorted(API_ACCESS))
def test_api_access(app, people, endpoint, role):
    from app.api.clients import CLIENT_SCOPES, create_client
    from app.api.tokens import SCOPES, create_token
    from app.core.clock import today
    from app.core.db import db_session
    from app.org.models import Employee
    from tests.api.conftest import client_token

    method, template, allowed = API_ACCESS[endpoint]
    headers = {"If-Match": "*"}
    if role == "system":
        with app.app_context():
            made = create_client(None, "matrix", "personnel_system", list(CLIENT_SCOPES))
            db_session.commit()
            secret = client_token(app.test_client(), made.client.client_id, made.secret)
        headers["Authorization"] = f"Bearer {secret}"
    elif role != "anonymous":
        with app.app_context():
            person = db_session.get(Employee, people[role][0])
            secret = create_token(person, "matrix", list(SCOPES), today() + timedelta(days=7)).secret
            db_session.commit()
        headers["Authorization"] = f"Bearer {secret}"
    path = template.format(**{name: value[0] for name, value in people.items()})
    response = app.test_client().open(path, method=method, headers=headers)
    assert response.status_code < 500
    assert response.content_type == "application/problem+json" or response.status_code < 400
    if role == "anonymous":
        assert response.status_code == 401, endpoint
    elif role in allowed:
        assert response.status_code not in (401, 403, 404), f"{role} should reach {endpoint}"
    else:
        assert response.status_code in (403, 404), f"{role} must not reach {endpoint} (got {response.status_code})"


@pytest.mark.parametrize("endpoint", sorted(API_ACCESS))
def test_api_ignores_the_session_cookie(app, people, endpoint):
    """A signed-in browser opens no API endpoint: only a token counts (and no CSRF is asked)."""
    method, template, _allowed = API_ACCESS[endpoint]
    client = app.test_client()
    factories.login(client, people["hr"][1])
    path = template.format(**{name: value[0] for name, value in people.items()})
    response = client.open(path, method=method, headers={"If-Match": "*"})
    assert response.status_code == 401 and response.content_type == "application/problem+json"


# --- object-level rules: roles and accounts ---------------------------------------------------
# (rule, actor, target, allowed). "self" is the actor's own account. A rule is checked on its
# predicate in app/permissions.py and, where a page performs it, through that page.
# Privilege: admin > hr > manager = instructor > mentor = employee.
ACCOUNT_RULES: list[tuple[str, str, str, bool]] = [
    # Issuing a temporary password at all (shown or mailed): strictly lower privilege, or an
    # administrator for another administrator; never oneself.
    ("reset_password", "hr", "employee", True),
    ("reset_password", "hr", "mentor", True),
    ("reset_password", "hr", "manager", True),
    ("reset_password", "hr", "instructor", True),
    ("reset_password", "hr", "hr2", False),
    ("reset_password", "hr", "admin", False),
    ("reset_password", "hr", "self", False),
    ("reset_password", "admin", "hr", True),
    ("reset_password", "admin", "admin2", True),
    ("reset_password", "admin", "self", False),
    ("reset_password", "manager", "employee", False),
    ("reset_password", "instructor", "employee", False),
    ("reset_password", "employee", "mentor", False),
    # Showing it once on the issuer's page: strictly lower privilege only.
    ("show_temporary_password", "hr", "employee", True),
    ("show_temporary_password", "hr", "manager", True),
    ("show_temporary_password", "hr", "instructor", True),
    ("show_temporary_password", "hr", "hr2", False),
    ("show_temporary_password", "hr", "admin", False),
    ("show_temporary_password", "hr", "self", False),
    ("show_temporary_password", "admin", "hr", True),
    ("show_temporary_password", "admin", "instructor", True),
    ("show_temporary_password", "admin", "admin2", False),
    ("show_temporary_password", "admin", "self", False),
    ("show_temporary_password", "manager", "employee", False),
    # Granting and removing roles: administrators only, never on their own account.
    ("grant:admin", "hr", "self", False),
    ("grant:hr", "hr", "employee", False),
    ("grant:instructor", "hr", "employee", False),
    ("grant:instructor", "manager", "employee", False),
    ("grant:admin", "employee", "self", False),
    ("grant:hr", "admin", "employee", True),
    ("grant:admin", "admin", "hr", True),
    ("grant:instructor", "admin", "manager", True),
    ("grant:hr", "admin", "self", False),
    ("revoke:hr", "admin", "hr", True),
    ("revoke:admin", "admin", "admin2", True),
    ("revoke:admin", "admin", "self", False),
    ("revoke:instructor", "hr", "instructor", False),
    ("revoke:hr", "hr", "self", False),
    # Nobody decides their own request: cohort endorsement (the manager heads the division every
    # account here belongs to, their own included) and HR's selection.
    ("endorse_application", "manager", "employee", True),
    ("endorse_application", "manager", "hr", True),
    ("endorse_application", "manager", "self", False),
    ("endorse_application", "hr", "employee", False),
    ("decide_application", "hr", "employee", True),
    ("decide_application", "hr", "hr2", True),
    ("decide_application", "hr", "self", False),
    ("decide_application", "manager", "employee", False),
    ("decide_application", "admin", "employee", False),
]


@pytest.fixture
def accounts(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        division = factories.unit("役割課")
        return {
            "employee": factories.employee(division),
            "mentor": factories.employee(division, roles=(RoleName.MENTOR,)),
            "manager": factories.employee(division, heads=division),
            "instructor": factories.employee(division, roles=(RoleName.INSTRUCTOR,)),
            "hr": factories.employee(division, roles=(RoleName.HR,)),
            "hr2": factories.employee(division, roles=(RoleName.HR,)),
            "admin": factories.employee(division, roles=(RoleName.ADMIN,)),
            "admin2": factories.employee(division, roles=(RoleName.ADMIN,)),
        }


def _predicate_allows(rule: str, actor, target) -> bool:  # type: ignore[no-untyped-def]
    from app import permissions

    if rule == "reset_password":
        return permissions.can_reset_password(actor, target)
    if rule == "show_temporary_password":
        return permissions.can_show_temporary_password(actor, target)
    if rule == "endorse_application":
        return permissions.can_endorse_application(actor, target)
    if rule == "decide_application":
        return permissions.can_decide_application(actor, target)
    verb, role = rule.split(":")
    predicate = permissions.can_grant_role if verb == "grant" else permissions.can_revoke_role
    return predicate(actor, target, RoleName(role))


@pytest.mark.parametrize(("rule", "actor_name", "target_name", "allowed"), ACCOUNT_RULES,
                         ids=[f"{r}-{a}-{t}" for r, a, t, _ in ACCOUNT_RULES])
def test_account_rules(app, accounts, rule, actor_name, target_name, allowed):
    from app.auth.models import Credential
    from app.auth.passwords import verify_password
    from app.core.db import db_session
    from app.org.models import Employee

    actor_ref = accounts[actor_name]
    target_ref = actor_ref if target_name == "self" else accounts[target_name]
    with app.app_context():
        actor, target = db_session.get(Employee, actor_ref.id), db_session.get(Employee, target_ref.id)
        assert _predicate_allows(rule, actor, target) is allowed
        roles_before = {r.value for r in target.roles}
    if rule in ("reset_password", "endorse_application", "decide_application"):
        return  # predicate only: no page issues a password it cannot show; cohorts call theirs
    client = app.test_client()
    factories.login_as(client, actor_ref)
    if rule == "show_temporary_password":
        response = factories.post(client, f"/org/staff/{target_ref.id}/temporary-password", {"confirm": "y"})
        assert response.status_code == (200 if allowed else 403) or (not allowed and response.status_code == 404)
        with app.app_context():
            credential = db_session.get(Credential, target_ref.id)
            assert verify_password(credential.password_hash, factories.PASSWORD) is not allowed
        return
    verb, role = rule.split(":")
    wanted = roles_before | {role} if verb == "grant" else roles_before - {role}
    response = factories.post(client, f"/org/staff/{target_ref.id}/roles", {"roles": sorted(wanted)})
    if allowed and response.status_code == 200:  # the preview of the change: confirm it
        response = press_confirm(client, response)
    assert response.status_code == (302 if allowed else 403) or (not allowed and response.status_code == 404)
    with app.app_context():
        target = db_session.get(Employee, target_ref.id)
        db_session.refresh(target)
        assert {r.value for r in target.roles} == (wanted if allowed else roles_before)


# --- object-level rules: signed-in sessions ----------------------------------------------------
# (actor, whose session, allowed): one ends one's own sessions one by one; nobody ends another
# person's single session (an administrator signs someone out everywhere instead).
SESSION_RULES: list[tuple[str, str, bool]] = [
    ("employee", "self", True),
    ("employee", "other", False),
    ("hr", "other", False),
    ("admin", "other", False),
]


@pytest.mark.parametrize(("actor_name", "owner_name", "allowed"), SESSION_RULES,
                         ids=[f"{a}-{o}" for a, o, _ in SESSION_RULES])
def test_session_rules(app, people, actor_name, owner_name, allowed):
    from sqlalchemy import select

    from app import permissions
    from app.auth.models import UserSession
    from app.core.db import db_session
    from app.org.models import Employee

    owner_client = app.test_client()
    owner_ref = people[actor_name if owner_name == "self" else owner_name]
    factories.login(owner_client, owner_ref[1])
    client = owner_client if owner_name == "self" else app.test_client()
    if owner_name != "self":
        factories.login(client, people[actor_name][1])
    with app.app_context():
        row = db_session.scalars(select(UserSession).where(UserSession.employee_id == owner_ref[0])).one()
        actor = db_session.get(Employee, people[actor_name][0])
        assert permissions.can_end_session(actor, row.employee_id) is allowed
        row_id = row.id
    response = factories.post(client, f"/account/sessions/{row_id}/end")
    assert response.status_code == (302 if allowed else 404)
    with app.app_context():
        assert (db_session.get(UserSession, row_id).revoked_at is not None) is allowed


# --- object-level rules: whether someone answered the course survey ---------------------------
# (viewer, anonymous survey, mark shown) on "other"'s enrolment page: for an anonymous survey the
# person alone sees whether they answered; for a named one, whoever may see the enrolment.
SURVEY_ANSWERED_RULES: list[tuple[str, bool, bool]] = [
    ("other", True, True),
    ("hr", True, False),
    ("manager", True, False),
    ("admin", True, False),
    ("other", False, True),
    ("hr", False, True),
    ("manager", False, True),
]


@pytest.mark.parametrize(("viewer_name", "anonymous", "shown"), SURVEY_ANSWERED_RULES,
                         ids=[f"{v}-{'anonymous' if a else 'named'}" for v, a, _ in SURVEY_ANSWERED_RULES])
def test_survey_answered_rules(app, people, viewer_name, anonymous, shown):
    from app import permissions
    from app.assessment.models import SurveyReceipt
    from app.assessment.surveys import ensure_survey
    from app.core.clock import today
    from app.core.db import db_session
    from app.enrollment.models import Enrolment
    from app.org.models import Employee

    with app.app_context():
        enrolment = db_session.get(Enrolment, people["enrolment"][0])
        enrolment.course.survey_required = True
        survey = ensure_survey(enrolment.course)
        survey.is_anonymous = anonymous
        db_session.add(SurveyReceipt(survey_id=survey.id, enrolment_id=enrolment.id, answered_on=today()))
        db_session.commit()
        viewer = db_session.get(Employee, people[viewer_name][0])
        assert permissions.can_see_survey_answered(viewer, enrolment.employee_id, anonymous) is shown
    client = app.test_client()
    factories.login(client, people[viewer_name][1])
    page = client.get(f"/enrolments/{people['enrolment'][0]}")
    assert page.status_code == 200
    assert ("回答済み" in page.get_data(as_text=True)) is shown
