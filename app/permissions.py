"""The only place that says who may do what. Default deny.

- `Permission`: what can be done, named scope:resource:action.
- `ROLE_PERMISSIONS`: which role grants which permissions. "employee" is everyone signed in;
  "manager" is whoever heads a unit (derived, never granted by hand).
- Object predicates (`can_view_employee`, ...) for decisions about one row.
- `PRIVILEGE`: the order of roles (admin > HR > manager = instructor > mentor = employee) that
  decides who may act on whose account: roles are granted and removed by administrators only,
  never on their own account; a temporary password is issued only for an account of strictly
  lower privilege (an administrator's by another administrator) and shown on the issuer's page
  only below the issuer's privilege. Services raise `PermissionDenied` for these rules too.
- Loaders that fetch a row and judge it in one step, 404 if missing and 403 if not allowed
  (`viewable_employee_or_abort`), as flaskr's `get_post` does.
- Query scopes (`visible_employee_filter`, `awaiting_decision_filter`, ...) for lists and dashboards.
- `require`, `signed_in` and `public` decorate every view, `api_token` every API endpoint; a test
  fails for a view with none.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import abort, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, aliased

from app.assessment.models import QuizAttempt
from app.catalog.models import Course, CourseStatus, ProgrammeItem
from app.cohorts.models import Application, Cohort, Decision
from app.core.clock import now
from app.core.db import db_session
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.jobs.models import BackgroundJob
from app.org.models import Employee, RoleGrant, RoleName, Unit
from app.reminders.models import Notification
from app.scheduling.models import Meeting, TrainingSession, session_instructors
from app.web.locale import gettext as _

F = TypeVar("F", bound=Callable[..., Any])


class Permission(enum.StrEnum):
    ORG_EMPLOYEE_READ = "org:employee:read"
    ORG_EMPLOYEE_SEARCH = "org:employee:search"  # find people by name, kana or number (the pickers)
    ORG_UNIT_SEARCH = "org:unit:search"  # find units by code or name (the pickers)
    ORG_STAFF_IMPORT = "org:staff:import"
    ORG_PLACEMENT_EDIT = "org:placement:edit"  # move someone to another unit, change a unit's head
    AUTH_PASSWORD_RESET = "auth:password:reset"
    AUTH_ROLE_ASSIGN = "auth:role:assign"
    AUTH_SESSION_REVOKE = "auth:session:revoke"  # "sign out everywhere" for someone else
    AUDIT_EVENT_READ = "audit:event:read"
    REPORTS_TEAM_READ = "reports:team:read"
    REPORTS_TEAM_READ_ANY = "reports:team:read-any"  # any unit's team page (a manager: their own subtree)
    REPORTS_COMPLIANCE_READ = "reports:compliance:read"  # mandatory training across the prefecture
    CATALOG_COURSE_EDIT = "catalog:course:edit"
    CATALOG_ASSIGNMENT_EDIT = "catalog:assignment:edit"
    CATALOG_COURSE_SEARCH = "catalog:course:search"  # find courses by code or title, drafts too (the pickers)
    SCHEDULING_SESSION_EDIT = "scheduling:session:edit"
    ENROLLMENT_APPROVE = "enrollment:request:approve"
    ENROLLMENT_MANAGE = "enrollment:enrolment:manage"
    REMINDERS_MANAGE = "reminders:outbox:manage"
    ATTENDANCE_MANAGE = "attendance:roster:manage"
    ASSESSMENT_GRADE = "assessment:answer:grade"
    ASSESSMENT_GRADE_ANY = "assessment:answer:grade-any"  # any session's attempts (an instructor: their own)
    ASSESSMENT_RESULTS_READ = "assessment:results:read"
    COMPLETION_RECORD = "completion:record:create"
    COHORT_MANAGE = "cohorts:cohort:manage"
    COHORT_ENDORSE = "cohorts:application:endorse"
    REPORTS_ORG_READ = "reports:organisation:read"
    JOBS_JOB_READ = "jobs:job:read"  # any background job's page (one's own is always visible)
    PRIVACY_DISCLOSE = "privacy:record:disclose"  # someone's disclosure file (開示請求); one's own: signed in
    OPS_VIEW = "ops:operations:read"  # the operator's page: scheduler, outbox, queue, database, version
    API_CLIENTS_MANAGE = "api:client:manage"  # register and revoke the API's system accounts (OAuth clients)


EMPLOYEE = "employee"
MANAGER = "manager"

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    EMPLOYEE: frozenset(),
    MANAGER: frozenset({Permission.REPORTS_TEAM_READ, Permission.ENROLLMENT_APPROVE, Permission.COHORT_ENDORSE}),
    RoleName.INSTRUCTOR: frozenset({Permission.ASSESSMENT_GRADE}),
    RoleName.MENTOR: frozenset(),
    RoleName.HR: frozenset(
        {
            Permission.ORG_EMPLOYEE_READ,
            Permission.ORG_EMPLOYEE_SEARCH,
            Permission.ORG_UNIT_SEARCH,
            Permission.ORG_STAFF_IMPORT,
            Permission.ORG_PLACEMENT_EDIT,
            Permission.AUTH_PASSWORD_RESET,
            Permission.CATALOG_COURSE_EDIT,
            Permission.CATALOG_ASSIGNMENT_EDIT,
            Permission.CATALOG_COURSE_SEARCH,
            Permission.SCHEDULING_SESSION_EDIT,
            Permission.ENROLLMENT_APPROVE,
            Permission.ENROLLMENT_MANAGE,
            Permission.REMINDERS_MANAGE,
            Permission.ATTENDANCE_MANAGE,
            Permission.ASSESSMENT_GRADE,
            Permission.ASSESSMENT_GRADE_ANY,
            Permission.ASSESSMENT_RESULTS_READ,
            Permission.COMPLETION_RECORD,
            Permission.COHORT_MANAGE,
            Permission.REPORTS_ORG_READ,
            Permission.REPORTS_TEAM_READ,
            Permission.REPORTS_TEAM_READ_ANY,
            Permission.REPORTS_COMPLIANCE_READ,
            Permission.JOBS_JOB_READ,
            Permission.PRIVACY_DISCLOSE,
        }
    ),
    RoleName.ADMIN: frozenset(
        {
            Permission.ORG_EMPLOYEE_READ,
            Permission.PRIVACY_DISCLOSE,
            Permission.AUTH_PASSWORD_RESET,
            Permission.AUTH_ROLE_ASSIGN,
            Permission.AUTH_SESSION_REVOKE,
            Permission.AUDIT_EVENT_READ,
            Permission.REPORTS_COMPLIANCE_READ,
            Permission.OPS_VIEW,
            Permission.API_CLIENTS_MANAGE,
        }
    ),
}


# --- who is what ---------------------------------------------------------------------------
# Granted roles are RoleGrant rows; "manager" is heading an active unit (Unit.head_id). For the
# signed-in person both are read by the sign-in loader in its one statement (`standing_columns`,
# app/auth/login.py) and kept on `g` for that request only (`remember_standing`): the checks below
# then read no rows about them, and a change shows on the next request. Anyone else (the person
# a page is about, a target of an action) is read from the database as before.

_STANDING_KEY = "_manabi_standing"  # on g: the signed-in person's Standing, this request only


@dataclass(frozen=True)
class Standing:
    """What the sign-in loader read about the person it loaded, for this request."""

    employee_id: int
    roles: frozenset[RoleName]
    headed_unit_paths: tuple[str, ...]  # the materialised paths ("/1/7/") of the active units they head


def _heads(employee_id: InstrumentedAttribute[int] | int) -> ColumnElement[bool]:
    """The units someone heads: the one definition of "manager"."""
    return and_(Unit.head_id == employee_id, Unit.is_active.is_(True))


def standing_columns() -> tuple[ScalarSelect[str], ScalarSelect[str]]:
    """Two scalar subqueries correlated to the Employee of the enclosing statement, for the sign-in
    loader to read with the person: their granted roles and the paths of the units they head, each
    comma-joined (group_concat on SQLite, string_agg on PostgreSQL, through SQLAlchemy's
    `aggregate_strings`; neither a role name nor a unit path holds a comma), NULL when none."""
    roles = (select(func.aggregate_strings(RoleGrant.role, ","))
             .where(RoleGrant.employee_id == Employee.id).correlate_except(RoleGrant).scalar_subquery())
    paths = (select(func.aggregate_strings(Unit.path, ","))
             .where(_heads(Employee.id)).correlate_except(Unit).scalar_subquery())
    return roles, paths


def remember_standing(employee_id: int, roles: str | None, headed_unit_paths: str | None) -> None:
    """Keep what `standing_columns` read about the signed-in person for the rest of the request."""
    standing = Standing(employee_id, frozenset(RoleName(role) for role in (roles or "").split(",") if role),
                        tuple(sorted(path for path in (headed_unit_paths or "").split(",") if path)))
    setattr(g, _STANDING_KEY, standing)


def _standing(user: Employee) -> Standing | None:
    standing: Standing | None = g.get(_STANDING_KEY)
    return standing if standing is not None and standing.employee_id == user.id else None


def granted_roles(user: Employee) -> frozenset[RoleName]:
    """The roles granted to someone (not "employee" or the derived "manager")."""
    standing = _standing(user)
    return standing.roles if standing is not None else user.roles


def headed_units(user: Employee) -> list[Unit]:
    """Units this person heads (cached for the request). For the signed-in person who heads none,
    no statement at all."""
    cache: dict[int, list[Unit]] = g.setdefault("_headed_units", {})
    if user.id not in cache:
        standing = _standing(user)
        if standing is not None and not standing.headed_unit_paths:
            cache[user.id] = []
        else:
            cache[user.id] = list(db_session.scalars(select(Unit).where(_heads(user.id))))
    return cache[user.id]


def headed_unit_paths(user: Employee) -> tuple[str, ...]:
    """The paths of the units this person heads: the roots of the subtrees they manage."""
    standing = _standing(user)
    if standing is not None:
        return standing.headed_unit_paths
    return tuple(unit.path for unit in headed_units(user))


def is_manager(user: Employee) -> bool:
    return bool(headed_unit_paths(user))


def effective_roles(user: Employee | None) -> set[str]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    roles: set[str] = {EMPLOYEE, *granted_roles(user)}
    if is_manager(user):
        roles.add(MANAGER)
    return roles


def has_permission(user: Employee | None, permission: Permission) -> bool:
    return any(permission in ROLE_PERMISSIONS.get(role, frozenset()) for role in effective_roles(user))


def has_role(user: Employee | None, role: str) -> bool:
    return role in effective_roles(user)


# --- object predicates -----------------------------------------------------------------------


def unit_in_subtree(unit: Unit | None, roots: Iterable[Unit]) -> bool:
    return _under_any(unit, (root.path for root in roots))


def _under_any(unit: Unit | None, root_paths: Iterable[str]) -> bool:
    return unit is not None and any(unit.path.startswith(path) for path in root_paths)


def _manages_unit(user: Employee, unit: Unit | None) -> bool:
    """`unit` lies in a subtree `user` heads."""
    return _under_any(unit, headed_unit_paths(user))


def can_view_employee(user: Employee, employee: Employee) -> bool:
    if user.id == employee.id or has_permission(user, Permission.ORG_EMPLOYEE_READ):
        return True
    return _manages_unit(user, employee.unit)


def viewable_employee_or_abort(user: Employee, employee_id: int) -> Employee:
    """A person for a page about them (their record, their transcript): 404 when there is no such
    person, 403 when `user` may not view them."""
    employee = db_session.get(Employee, employee_id)
    if employee is None:
        abort(404)
    if not can_view_employee(user, employee):
        abort(403)
    return employee


def can_manage_employee(user: Employee, employee: Employee) -> bool:
    """Act for someone (approve, enrol on their behalf): their manager chain or HR."""
    if has_role(user, RoleName.HR):
        return True
    return user.id != employee.id and _manages_unit(user, employee.unit)


def can_end_session(user: Employee, session_owner_id: int) -> bool:
    """End one signed-in session from the sessions page: one's own only (an administrator ends
    someone else's all at once, with Permission.AUTH_SESSION_REVOKE)."""
    return user.id == session_owner_id


def can_see_survey_answered(user: Employee, respondent_id: int, survey_is_anonymous: bool) -> bool:
    """Whether someone answered a course's survey, shown per person: to the person alone for an
    anonymous survey (HR and managers see no "answered" mark); to whoever may view them for a
    named one (the caller has checked that they may see the enrolment)."""
    return user.id == respondent_id or not survey_is_anonymous


class PermissionDenied(Exception):
    """A service refused an action for this actor; the message (translated) says why."""


# --- accounts and roles ----------------------------------------------------------------------

# Who may act on whose account. A person's privilege is that of their highest role.
PRIVILEGE: dict[str, int] = {
    EMPLOYEE: 0,
    RoleName.MENTOR: 0,
    MANAGER: 1,
    RoleName.INSTRUCTOR: 1,
    RoleName.HR: 2,
    RoleName.ADMIN: 3,
}
_NO_PRIVILEGE = -1


def held_privilege(person: Employee) -> int:
    """The privilege an account carries, active or not (a deactivated administrator's account is
    still an administrator's account: it comes back with its roles when reactivated)."""
    roles: set[str] = {EMPLOYEE, *granted_roles(person)}
    if is_manager(person):
        roles.add(MANAGER)
    return max(PRIVILEGE[role] for role in roles)


def acting_privilege(user: Employee | None) -> int:
    """The privilege someone acts with now (none when signed out or deactivated)."""
    return max((PRIVILEGE[role] for role in effective_roles(user)), default=_NO_PRIVILEGE)


def _is_administrator_account(person: Employee) -> bool:
    return RoleName.ADMIN in granted_roles(person)


def can_change_roles(actor: Employee, target: Employee) -> bool:
    """Administrators change roles, never their own (nobody decides their own request; and the
    acting administrator stays one, so there is always an administrator left)."""
    return (has_permission(actor, Permission.AUTH_ROLE_ASSIGN) and actor.id != target.id
            and held_privilege(target) <= acting_privilege(actor))


def can_grant_role(actor: Employee, target: Employee, role: RoleName) -> bool:
    return can_change_roles(actor, target) and PRIVILEGE[role] <= acting_privilege(actor)


def can_revoke_role(actor: Employee, target: Employee, role: RoleName) -> bool:
    return can_change_roles(actor, target) and PRIVILEGE[role] <= acting_privilege(actor)


def can_reset_password(actor: Employee, target: Employee) -> bool:
    """Issue a temporary password (however it is delivered): for accounts of strictly lower
    privilege, and an administrator's only by another administrator. Never one's own (one's own
    password is changed knowing the current one)."""
    if not has_permission(actor, Permission.AUTH_PASSWORD_RESET) or actor.id == target.id:
        return False
    if _is_administrator_account(target):
        return has_role(actor, RoleName.ADMIN)
    return held_privilege(target) < acting_privilege(actor)


def can_show_temporary_password(actor: Employee, target: Employee) -> bool:
    """Show a temporary password once on the issuer's page: only for accounts strictly below the
    issuer's privilege (whoever sees it can sign in as its owner). Equal or higher privilege needs
    delivery to the owner (by mail), never the screen."""
    return can_reset_password(actor, target) and held_privilege(target) < acting_privilege(actor)


def can_view_job(user: Employee, job: BackgroundJob) -> bool:
    """A background job's page (progress, result): whoever started it, and HR."""
    return job.created_by_id == user.id or has_permission(user, Permission.JOBS_JOB_READ)


# --- deciding requests: nobody decides their own, at any stage --------------------------------


def can_endorse_application(manager: Employee, applicant: Employee) -> bool:
    """A manager endorses (or declines to endorse) a cohort application from their own subtree,
    never their own application."""
    return (manager.id != applicant.id and has_permission(manager, Permission.COHORT_ENDORSE)
            and _manages_unit(manager, applicant.unit))


def can_endorse_application_now(manager: Employee, applicant: Employee) -> bool:
    """`can_endorse_application` for the endorsement itself, the manager rule read again from the
    organisation as committed now (`manages_now`): a transfer committed meanwhile wins."""
    return can_endorse_application(manager, applicant) and manages_now(manager, applicant.id)


def can_decide_application(actor: Employee, applicant: Employee) -> bool:
    """HR selects, reserves, declines, promotes or withdraws a cohort applicant, never themselves
    (their own application is decided by a colleague)."""
    return actor.id != applicant.id and has_permission(actor, Permission.COHORT_MANAGE)


# --- enrolments: seeing, enrolling, deciding, cancelling -------------------------------------


def can_view_enrolment(user: Employee, enrolment: Enrolment) -> bool:
    """An enrolment's page and calendar file: whoever may view its person (themselves, their
    manager chain, HR and administrators)."""
    return can_view_employee(user, enrolment.employee)


def can_override_enrolment_rules(actor: Employee) -> bool:
    """Enrol past the enrolment window, the target grades and the prerequisites, and into a
    cohort-only session: HR."""
    return has_permission(actor, Permission.ENROLLMENT_MANAGE)


def can_approve_as_manager(actor: Employee, employee: Employee) -> bool:
    """Approve `employee`'s request at the manager's stage (enrolling them oneself counts as that
    approval): their manager chain, or HR; never for oneself."""
    return actor.id != employee.id and can_manage_employee(actor, employee)


def can_approve_as_training_staff(actor: Employee, employee: Employee) -> bool:
    """Approve `employee`'s request at HR's stage, which also completes the manager's (so HR
    enrolling someone has approved every stage): HR, never for oneself."""
    return actor.id != employee.id and has_permission(actor, Permission.ENROLLMENT_MANAGE)


def can_decide_enrolment(actor: Employee, enrolment: Enrolment) -> bool:
    """Approve or decline a pending request at its current stage. Nobody decides their own
    request, at any stage (an HR officer's own request goes to a colleague)."""
    if enrolment.state != EnrolmentState.PENDING or actor.id == enrolment.employee_id:
        return False
    if enrolment.approval_stage == ApprovalStage.HR:
        return can_approve_as_training_staff(actor, enrolment.employee)
    if enrolment.approval_stage == ApprovalStage.MANAGER:
        return can_approve_as_manager(actor, enrolment.employee)
    return False


def manages_now(user: Employee, employee_id: int) -> bool:
    """The manager rule (`_manages_unit`: `user` heads an open unit whose subtree holds the person's
    unit) read from the organisation as committed now, not from what the sign-in loader read at
    the start of the request: for a decision taken under its lock, so that a transfer or a change
    of head committed meanwhile wins (one statement)."""
    staff_unit, headed = aliased(Unit), aliased(Unit)
    return db_session.scalar(
        select(headed.id).select_from(Employee).join(staff_unit, Employee.unit_id == staff_unit.id)
        .join(headed, staff_unit.path.startswith(headed.path))
        .where(Employee.id == employee_id, headed.head_id == user.id, headed.is_active.is_(True)).limit(1)) is not None


def can_follow_request(user: Employee, enrolment: Enrolment) -> bool:
    """A request on the API's approvals: whoever may decide it, or could have (someone else's
    request that went through approval and that `user` may view: decided, forwarded, withdrawn),
    so that the loser of a race reads what happened. One's own request is not here."""
    if can_decide_enrolment(user, enrolment):
        return True
    if is_own_enrolment(user, enrolment) or enrolment.approval_stage == ApprovalStage.NOT_REQUIRED:
        return False
    return can_view_enrolment(user, enrolment)


def can_decide_enrolment_now(actor: Employee, enrolment: Enrolment) -> bool:
    """`can_decide_enrolment` for the decision itself: a manager's right is read again from the
    organisation as committed now (`manages_now`). HR's is a role, unaffected by transfers."""
    if not can_decide_enrolment(actor, enrolment):
        return False
    if enrolment.approval_stage == ApprovalStage.MANAGER and not has_role(actor, RoleName.HR):
        return manages_now(actor, enrolment.employee_id)
    return True


def can_cancel_enrolment(actor: Employee, enrolment: Enrolment) -> bool:
    """Cancel a live place or request: HR at any time; the person, or their manager chain, until
    the session's cancellation deadline."""
    if not enrolment.is_active:
        return False
    if has_permission(actor, Permission.ENROLLMENT_MANAGE):
        return True
    if actor.id == enrolment.employee_id or can_manage_employee(actor, enrolment.employee):
        return now() < enrolment.training_session.cancellation_deadline_at
    return False


# --- teaching: rosters, attendance, grading --------------------------------------------------


def is_session_instructor(user: Employee, training_session: TrainingSession) -> bool:
    """Whether `user` is one of the session's instructors."""
    return any(instructor.id == user.id for instructor in training_session.instructors)


def can_view_roster(user: Employee, training_session: TrainingSession) -> bool:
    """A session's enrolments (names, states, waitlist): HR, and the session's instructors."""
    return has_permission(user, Permission.ENROLLMENT_MANAGE) or is_session_instructor(user, training_session)


def can_mark_attendance(user: Employee, meeting: Meeting) -> bool:
    """Take a meeting's attendance, show its check-in code and QR, import its participant list:
    HR, and the instructors of its session."""
    return (has_permission(user, Permission.ATTENDANCE_MANAGE)
            or is_session_instructor(user, meeting.training_session))


def _taught_enrolment_ids(user: Employee) -> Select[int]:
    """Ids of the enrolments in the sessions `user` instructs."""
    return (select(Enrolment.id)
            .join(session_instructors, session_instructors.c.session_id == Enrolment.session_id)
            .where(session_instructors.c.employee_id == user.id))


def can_grade_attempt(user: Employee, attempt: QuizAttempt) -> bool:
    """Hand-grade a quiz attempt: HR any attempt; an instructor those of the sessions they teach."""
    if has_permission(user, Permission.ASSESSMENT_GRADE_ANY):
        return True
    taught = _taught_enrolment_ids(user).where(Enrolment.id == attempt.enrolment_id).limit(1)
    return db_session.scalar(taught) is not None


# --- one's own things ------------------------------------------------------------------------


def can_read_notification(user: Employee, notification: Notification) -> bool:
    """A message in the inbox: its recipient alone (to anyone else it does not exist)."""
    return notification.recipient_id == user.id


# --- catalog and reports ---------------------------------------------------------------------


def can_view_course(user: Employee, course: Course) -> bool:
    """A course's page: a published course for everyone signed in; drafts and retired courses for
    the curriculum designers."""
    return course.status == CourseStatus.PUBLISHED or has_permission(user, Permission.CATALOG_COURSE_EDIT)


def can_view_team_unit(user: Employee, unit_id: int) -> bool:
    """Narrow the team page (and its exports) to one unit: any unit for HR, else a unit inside a
    subtree `user` heads."""
    unit = db_session.get(Unit, unit_id)
    if unit is not None and has_permission(user, Permission.REPORTS_TEAM_READ_ANY):
        return True
    return _manages_unit(user, unit)


def team_unit_roots(user: Employee) -> list[Unit]:
    """The subtrees whose units the team page offers `user`: every top-level unit for HR (the
    whole prefecture, one unit at a time), else the units they head."""
    if has_permission(user, Permission.REPORTS_TEAM_READ_ANY):
        return list(db_session.scalars(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.sort_order)))
    return headed_units(user)


# --- query scopes ----------------------------------------------------------------------------


def can_join_cohort_session(employee: Employee, training_session: TrainingSession) -> bool:
    """Cohort modules are open only to the selected participants of a cohort whose programme
    contains the session's course."""
    return db_session.scalar(
        select(Application.id).join(Cohort, Application.cohort_id == Cohort.id)
        .join(ProgrammeItem, ProgrammeItem.programme_id == Cohort.programme_id)
        .where(ProgrammeItem.course_id == training_session.course_id, Application.employee_id == employee.id,
               Application.decision == Decision.SELECTED, Application.is_withdrawn.is_(False)).limit(1)) is not None


def visible_employee_filter(user: Employee) -> ColumnElement[bool]:
    """A WHERE clause limiting Employee rows to those `user` may see in lists and dashboards."""
    if has_permission(user, Permission.ORG_EMPLOYEE_READ):
        return true()
    roots = headed_unit_paths(user)
    if not roots:
        return Employee.id == user.id
    return or_(
        Employee.id == user.id,
        Employee.unit_id.in_(
            select(Unit.id).where(or_(*(Unit.path.startswith(root) for root in roots)))
        ),
    )


def managed_unit_filter(user: Employee) -> ColumnElement[bool]:
    """Units inside the subtrees `user` heads (nothing for non-managers)."""
    roots = headed_unit_paths(user)
    if not roots:
        return false()
    return or_(*(Unit.path.startswith(root) for root in roots))


def awaiting_decision_filter(user: Employee) -> ColumnElement[bool]:
    """Enrolment rows waiting for `user`'s decision (the approvals page): pending requests of their
    subtree at the manager's stage, and for HR every request at HR's stage; never their own.
    (HR may also decide a request still at the manager's stage, `can_decide_enrolment`, but
    its queue leaves those to the managers.)"""
    managed_staff = select(Employee.id).join(Unit, Employee.unit_id == Unit.id).where(managed_unit_filter(user))
    stages: list[ColumnElement[bool]] = [
        (Enrolment.approval_stage == ApprovalStage.MANAGER) & Enrolment.employee_id.in_(managed_staff)]
    if has_permission(user, Permission.ENROLLMENT_MANAGE):
        stages.append(Enrolment.approval_stage == ApprovalStage.HR)
    return and_(Enrolment.state == EnrolmentState.PENDING, or_(*stages), Enrolment.employee_id != user.id)


def attendance_session_filter(user: Employee) -> ColumnElement[bool]:
    """TrainingSession rows whose attendance `user` takes (the teaching page): every session for
    HR, else the sessions they instruct."""
    if has_permission(user, Permission.ATTENDANCE_MANAGE):
        return true()
    return TrainingSession.id.in_(select(session_instructors.c.session_id)
                                  .where(session_instructors.c.employee_id == user.id))


def gradable_attempt_filter(user: Employee) -> ColumnElement[bool]:
    """QuizAttempt rows `user` may grade (the grading queue): every attempt for HR, else those of
    the sessions they instruct. The same rule as `can_grade_attempt`."""
    if has_permission(user, Permission.ASSESSMENT_GRADE_ANY):
        return true()
    return QuizAttempt.enrolment_id.in_(_taught_enrolment_ids(user))


# --- view decorators -------------------------------------------------------------------------


def _mark(view: F, access: str) -> F:
    view._access = access  # type: ignore[attr-defined]
    return view


def redirect_to_login() -> Any:
    """Not signed in: to the sign-in page, coming back here afterwards."""
    flash(_("Please sign in to open this page."), "info")
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def public(view: F) -> F:
    """Anyone, signed in or not (sign-in page, health check, certificate verification)."""
    return _mark(view, "public")


def signed_in(view: F) -> F:
    """Any active signed-in person; object checks happen inside with the predicates above."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return redirect_to_login()
        return view(*args, **kwargs)

    return _mark(wrapper, "signed_in")  # type: ignore[return-value]


def require(*permissions: Permission) -> Callable[[F], F]:
    """Signed in and holding every listed permission, or 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return redirect_to_login()
            if not all(has_permission(current_user, p) for p in permissions):
                abort(403)
            return view(*args, **kwargs)

        return _mark(wrapper, "require:" + ",".join(permissions))  # type: ignore[return-value]

    return decorator


# --- the JSON API: a Bearer token, never a browser's session cookie ----------------------------
# app/api/auth.py reads the token before the view and remembers who called (`remember_api_caller`);
# `api_token` then judges the endpoint like `require` judges a page: no caller 401, a scope the
# token lacks or a permission its holder lacks 403. Object rules use the same predicates as the web.
# A token's holder is a person (a personal access token: their own roles) or a system account (an
# OAuth 2 client: the permissions of its one system role below, and no person to act for).

SYSTEM_ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    # The 人事給与システム: pushes staff and placements, pulls completions and certificates.
    "personnel_system": frozenset({Permission.ORG_STAFF_IMPORT, Permission.ORG_EMPLOYEE_READ,
                                   Permission.REPORTS_ORG_READ, Permission.REPORTS_TEAM_READ_ANY}),
    # A system acting as HR does (reports, the outbox's state, staff): HR's permissions exactly.
    "hr": ROLE_PERMISSIONS[RoleName.HR],
}

_API_CALLER_KEY = "_manabi_api_caller"  # on g: this request's ApiCaller


@dataclass(frozen=True)
class ApiCaller:
    """Who calls the API in this request, and what the token allows: a token's active owner, or
    a system account (`employee` None, `system_role` set) acting with its role."""

    employee: Employee | None
    token_id: int
    scopes: frozenset[str]
    system_role: str | None = None
    system_name: str = ""  # the system account's name, for the audit trail
    holder: str = ""  # whose budget and idempotency keys: "token:<id>" or "client:<id>" (ApiToken.holder)
    expires_at: datetime | None = None  # the token's

    @property
    def roles(self) -> list[str]:
        """The roles the caller acts with: a person's, or the system account's one."""
        if self.employee is not None:
            return sorted(effective_roles(self.employee))
        return [self.system_role] if self.system_role else []

    def may(self, permission: Permission) -> bool:
        if self.employee is not None:
            return has_permission(self.employee, permission)
        return permission in SYSTEM_ROLE_PERMISSIONS.get(self.system_role or "", frozenset())

    def can_view_course(self, course: Course) -> bool:
        """The catalog through the API: as `can_view_course` for a person; published courses only
        for a system account that cannot edit the catalog."""
        return course.status == CourseStatus.PUBLISHED or self.may(Permission.CATALOG_COURSE_EDIT)


def completion_people_filter(caller: ApiCaller) -> ColumnElement[bool] | None:
    """The Employee rows whose completions an API caller sees: everyone for the organisation's
    reports (HR, the personnel system); a manager's team page's people (the active staff of the
    subtrees they head, not themselves); None for anyone else (403)."""
    if caller.may(Permission.REPORTS_ORG_READ):
        return true()
    manager = caller.employee
    if manager is None or not caller.may(Permission.REPORTS_TEAM_READ):
        return None
    return and_(Employee.unit_id.in_(select(Unit.id).where(managed_unit_filter(manager))),
                Employee.is_active.is_(True), Employee.id != manager.id)


def useful_token_scopes(user: Employee) -> list[str]:
    """The scopes worth offering `user` for a personal access token: what a token may do is
    judged again on every call, so this only keeps the account page from offering the useless."""
    scopes = ["read", "enrol"]
    if has_permission(user, Permission.ENROLLMENT_APPROVE):
        scopes.append("approve")
    if has_role(user, RoleName.INSTRUCTOR) or has_permission(user, Permission.ATTENDANCE_MANAGE):
        scopes.append("attend")
    if has_permission(user, Permission.ORG_STAFF_IMPORT):
        scopes.append("staff")
    return scopes


def remember_api_caller(caller: ApiCaller) -> None:
    setattr(g, _API_CALLER_KEY, caller)


def api_caller() -> ApiCaller | None:
    caller: ApiCaller | None = g.get(_API_CALLER_KEY)
    return caller


def api_person() -> Employee:
    """The person an endpoint acts for (after `api_token(..., person=True)` let the call in)."""
    caller = api_caller()
    if caller is None or caller.employee is None:
        abort(401)
    return caller.employee


def api_token(scope: str, *permissions: Permission, person: bool = False) -> Callable[[F], F]:
    """An API endpoint: a valid token with `scope` whose holder has every listed permission.
    `person=True`: the endpoint acts for a person (one's own enrolments, one's approvals or
    roster), so a system account's token is refused (403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = api_caller()
            if caller is None:
                abort(401)
            if person and caller.employee is None:
                abort(403, description=_("This endpoint acts for a person: use a personal access token."))
            if scope not in caller.scopes:
                abort(403, description=_("This token does not have the %(scope)s scope.", scope=scope))
            if not all(caller.may(p) for p in permissions):
                abort(403)
            return view(*args, **kwargs)

        marker = f"api:{scope}" + "".join(f",{p}" for p in permissions) + (",person" if person else "")
        return _mark(wrapper, marker)  # type: ignore[return-value]

    return decorator


def can(permission: str) -> bool:
    """Template global: `{% if can('catalog:course:edit') %}`."""
    return has_permission(current_user, Permission(permission))


def init_app(app: Any) -> None:
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["has_role"] = lambda role: has_role(current_user, role)


# --- cohorts ---
# Who may do what in the cohort programme's fieldwork, and on a participant's own assessment pages.
# HR manages cohorts and sees and reviews all work; a team's mentors see and review its work; its
# members see it; a participant sees their own individual work, which the mentors of their team
# review. (Endorsing and deciding applications: `can_endorse_application`, `can_decide_application`.)
# Imported here, at the section, so that this section stays in one piece; models only.

from app.cohorts.models import FieldworkTeam, Submission, TeamMember, team_mentors  # noqa: E402


def can_manage_cohorts(user: Employee) -> bool:
    """Open cohorts, select, form teams, set milestones, check completion (HR)."""
    return has_permission(user, Permission.COHORT_MANAGE)


def is_team_mentor(user: Employee, team: FieldworkTeam) -> bool:
    return any(mentor.id == user.id for mentor in team.mentors)


def is_team_member(user: Employee, team: FieldworkTeam) -> bool:
    return any(member.employee_id == user.id for member in team.members)


def _team_of(employee_id: int, cohort_id: int) -> FieldworkTeam | None:
    return db_session.scalar(select(FieldworkTeam).join(TeamMember, TeamMember.team_id == FieldworkTeam.id).where(
        TeamMember.cohort_id == cohort_id, TeamMember.employee_id == employee_id))


def mentors_in_cohort(user: Employee, cohort: Cohort) -> bool:
    """Whether this person mentors any team of the cohort."""
    return db_session.scalar(select(team_mentors.c.team_id).join(
        FieldworkTeam, FieldworkTeam.id == team_mentors.c.team_id).where(
        FieldworkTeam.cohort_id == cohort.id, team_mentors.c.employee_id == user.id).limit(1)) is not None


def is_cohort_participant(user: Employee, cohort: Cohort) -> bool:
    """Selected for the cohort and not withdrawn: the fieldwork pages are theirs."""
    return db_session.scalar(select(Application.id).where(
        Application.cohort_id == cohort.id, Application.employee_id == user.id,
        Application.decision == Decision.SELECTED, Application.is_withdrawn.is_(False)).limit(1)) is not None


def can_view_progress_board(user: Employee, cohort: Cohort) -> bool:
    """Every participant's progress: HR and the mentors of the cohort's teams (not the participants)."""
    return can_manage_cohorts(user) or mentors_in_cohort(user, cohort)


def _submission_team(submission: Submission) -> FieldworkTeam | None:
    return db_session.get(FieldworkTeam, submission.team_id) if submission.team_id is not None else None


def _mentors_submitter(user: Employee, submission: Submission) -> bool:
    """An individual submission: whether `user` mentors the submitter's team in that cohort."""
    if submission.employee_id is None:
        return False
    team = _team_of(submission.employee_id, submission.milestone.cohort_id)
    return team is not None and is_team_mentor(user, team)


def can_see_submission(user: Employee, submission: Submission) -> bool:
    """A submission and its files: HR; a team's work for its members and mentors; an individual's
    work for that person and the mentors of their team."""
    if can_manage_cohorts(user):
        return True
    team = _submission_team(submission)
    if team is not None:
        return is_team_mentor(user, team) or is_team_member(user, team)
    return submission.employee_id == user.id or _mentors_submitter(user, submission)


def can_review_submission(user: Employee, submission: Submission) -> bool:
    """Accept or return a submission: HR, the team's mentors, or (individual work) the mentors of
    the submitter's team."""
    if can_manage_cohorts(user):
        return True
    team = _submission_team(submission)
    if team is not None:
        return is_team_mentor(user, team)
    return _mentors_submitter(user, submission)


def is_own_enrolment(user: Employee, enrolment: Enrolment) -> bool:
    """The participant's own pages of an enrolment (the quiz, its result, the survey): theirs alone."""
    return enrolment.employee_id == user.id


def is_own_application(user: Employee, application: Application) -> bool:
    """A cohort application is changed or withdrawn by its applicant alone."""
    return application.employee_id == user.id
