from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from app.auth import oidc
from app.auth.forms import ChangePasswordForm, LocaleForm, LoginForm
from app.auth.login import MUST_CHANGE_KEY, current_session
from app.auth.models import UserSession
from app.auth.services import (
    AuthError,
    PasswordSignIn,
    change_own_password,
    end_all_sessions,
    end_other_sessions,
    end_own_session,
    set_locale,
    sign_in,
    sign_out,
    start_session,
    use_unlock_link,
)
from app.auth.sessions import SESSION_TOKEN_KEY, active_sessions
from app.auth.throttling import Device, ThrottlePolicy, new_device_cookie, read_device_cookie, unlock_is_valid
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee
from app.permissions import Permission, can_end_session, public, require, signed_in
from app.web.external_urls import external_url
from app.web.locale import gettext as _
from app.web.redirects import is_safe_local_path, safe_next

bp = Blueprint("auth", __name__)


def _device_max_age() -> timedelta:
    return timedelta(days=current_app.config["LOGIN_DEVICE_COOKIE_DAYS"])


def _remember_device(response: BaseResponse, employee_id: int) -> BaseResponse:
    """Mark this browser as one the person signed in from (app/auth/throttling.py): an attacker
    elsewhere then never delays their sign-ins here."""
    cfg = current_app.config
    response.set_cookie(cfg["LOGIN_DEVICE_COOKIE_NAME"], new_device_cookie(employee_id, cfg["SECRET_KEY"]),
                        max_age=int(_device_max_age().total_seconds()), path=url_for("auth.login"),
                        secure=cfg["SESSION_COOKIE_SECURE"], httponly=True, samesite="Strict")
    return response


def _device() -> Device | None:
    cfg = current_app.config
    return read_device_cookie(request.cookies.get(cfg["LOGIN_DEVICE_COOKIE_NAME"]), cfg["SECRET_KEY"],
                              _device_max_age())


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        try:
            result = sign_in(form.login.data, form.password.data, request.remote_addr or "-",
                             ThrottlePolicy.from_config(current_app.config), _device(),
                             PasswordSignIn.from_config(current_app.config))
        except AuthError as error:
            db_session.commit()  # keep the failure count
            flash(str(error), "error")
            status = 401
        else:
            return _complete_sign_in(result.employee, result.must_change_password, form.next.data)
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


def _complete_sign_in(employee: Employee, must_change_password: bool, next_url: str | None,
                      session_values: Mapping[str, object] | None = None) -> BaseResponse:
    """The end of every successful sign-in, by password or through an OpenID Connect provider:
    a new server-side session row, a fresh Flask session (nothing of the signed-out visit carries
    over: no fixation), the person's language, this browser remembered as theirs, then `next`
    (a path of this site only) or the forced password change."""
    started = start_session(employee, user_agent=request.headers.get("User-Agent"), address=request.remote_addr)
    db_session.commit()
    session.clear()
    login_user(employee)
    session[SESSION_TOKEN_KEY] = started.token
    session[MUST_CHANGE_KEY] = must_change_password
    session.update(session_values or {})
    if employee.locale in current_app.config["LANGUAGES"]:
        session["locale"] = employee.locale  # error pages read it without the database
    if must_change_password:
        flash(_("You signed in with a temporary password. Please choose your own password."), "info")
        return _remember_device(redirect(url_for("auth.change_password")), employee.id)
    return _remember_device(redirect(safe_next(next_url)), employee.id)


# --- sign-in through an OpenID Connect provider (app/auth/oidc.py) ------------------------------------


@bp.route("/login/oidc/<name>", methods=["POST"])
@public
def oidc_start(name: str) -> ResponseReturnValue:
    """The provider's button on the sign-in page: a POST with the CSRF token, so no other site can
    start a sign-in in this browser (and have it signed in as someone else: login CSRF)."""
    provider = oidc.find_provider(name)
    if provider is None:
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("home.home"))
    next_url = request.form.get("next", "")
    session[oidc.NEXT_KEY] = next_url if is_safe_local_path(next_url) else None
    try:
        return oidc.begin(provider, external_url("auth.oidc_callback", name=provider.name))
    except oidc.SignInFailed as failure:
        flash(str(failure), "error")
        return redirect(url_for("auth.login", next=session.pop(oidc.NEXT_KEY, None)))


@bp.route("/login/oidc/<name>/callback")
@public
def oidc_callback(name: str) -> ResponseReturnValue:
    """Where the provider sends the browser back (register it there: BASE_URL +
    /login/oidc/<name>/callback). Any failure goes back to the sign-in page with a message; a
    person the provider knows but Manabi does not (or no longer) gets a page saying whom to ask.
    Nobody is created and no role is given here."""
    if current_user.is_authenticated:
        return redirect(url_for("home.home"))
    next_url = session.pop(oidc.NEXT_KEY, None)
    provider = oidc.find_provider(name)
    if provider is None:
        flash(_("This way of signing in is not available. Please sign in another way."), "error")
        return redirect(url_for("auth.login"))
    try:
        identity = oidc.finish(provider)
    except oidc.SignInFailed as failure:
        flash(str(failure), "error")
        return redirect(url_for("auth.login", next=next_url))
    employee = oidc.find_employee(provider, identity.value)
    if employee is None or not employee.is_active:
        return render_template("auth/oidc_no_account.html", provider=provider, value=identity.value,
                               inactive=employee is not None), 403
    kept = identity.id_token if len(identity.id_token) <= oidc.ID_TOKEN_COOKIE_LIMIT else ""
    return _complete_sign_in(employee, False, next_url, {oidc.PROVIDER_KEY: provider.name, oidc.ID_TOKEN_KEY: kept})


@bp.route("/logout", methods=["POST"])
@public
def logout() -> ResponseReturnValue:
    """Ends the Manabi session; someone who signed in through a provider is then sent to the
    provider's end-session endpoint (RP-initiated logout), which sends them back to the sign-in page."""
    signed_in_now = current_user.is_authenticated  # not for a cookie that no longer opens a session
    sign_out(session.get(SESSION_TOKEN_KEY))  # the session row ends: a copy of the cookie opens nothing
    db_session.commit()
    provider_logout = None
    if signed_in_now:
        provider_logout = oidc.end_session_url(session.get(oidc.PROVIDER_KEY), session.get(oidc.ID_TOKEN_KEY),
                                               external_url("auth.login"))
    response = _end_this_browser()
    return redirect(provider_logout) if provider_logout else response


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
def change_password() -> ResponseReturnValue:
    password_sign_in = PasswordSignIn.from_config(current_app.config)
    if not password_sign_in.uses_local_password(current_user):
        # The directory's password (or the organisation's sign-in) is the one to change: no form.
        return render_template("auth/change_password.html", form=None, mode=password_sign_in.mode,
                               forced=False), 200 if request.method != "POST" else 400
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            kept = current_session()
            change_own_password(
                current_user, form.current_password.data, form.new_password.data,
                current_app.config["PASSWORD_MIN_LENGTH"], current_session_id=kept.id if kept else None,
            )
        except AuthError as error:
            db_session.rollback()
            form.new_password.errors = [*form.new_password.errors, str(error)]
        else:
            db_session.commit()
            session[MUST_CHANGE_KEY] = False
            flash(_("Your password has been changed. You were signed out everywhere else."), "success")
            return redirect(url_for("home.home"))
    status = 400 if request.method == "POST" else 200  # a successful POST has redirected above
    return render_template("auth/change_password.html", form=form,
                           forced=bool(session.get(MUST_CHANGE_KEY))), status


@bp.route("/locale", methods=["POST"])
@public
def set_locale_view() -> ResponseReturnValue:
    form = LocaleForm()
    target = form.next.data if is_safe_local_path(form.next.data) else url_for("home.home")
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            set_locale(current_user, form.locale.data)
            db_session.commit()
    return redirect(target)


# --- one's own sessions ------------------------------------------------------------------------


@bp.route("/account/sessions")
@signed_in
def sessions() -> ResponseReturnValue:
    current = current_session()
    return render_template("auth/sessions.html", sessions=active_sessions(current_user.id),
                           current_id=current.id if current else None)


def _end_this_browser() -> ResponseReturnValue:
    locale = session.get("locale")
    logout_user()
    session.clear()
    if locale:
        session["locale"] = locale
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@signed_in
def end_session(session_id: int) -> ResponseReturnValue:
    row = db_session.get(UserSession, session_id)
    if row is None or not can_end_session(current_user, row.employee_id):
        abort(404)  # someone else's session is not even named
    current = current_session()
    end_own_session(current_user, row.id)
    db_session.commit()
    if current is not None and current.id == row.id:
        return _end_this_browser()
    flash(_("The session has been ended."), "success")
    return redirect(url_for("auth.sessions"))


@bp.route("/account/sessions/end-others", methods=["POST"])
@signed_in
def end_other_sessions_view() -> ResponseReturnValue:
    current = current_session()
    count = end_other_sessions(current_user, current.id if current else None)
    db_session.commit()
    flash(_("Signed out of %(count)s other sessions.", count=count), "success")
    return redirect(url_for("auth.sessions"))


# --- an administrator's "sign out everywhere" ---------------------------------------------------------


def _employee_or_404(employee_id: int) -> Employee:
    employee = db_session.get(Employee, employee_id)
    if employee is None:
        abort(404)
    return employee


@bp.route("/admin/staff/<int:employee_id>/sessions")
@require(Permission.AUTH_SESSION_REVOKE)
def staff_sessions(employee_id: int) -> ResponseReturnValue:
    employee = _employee_or_404(employee_id)
    return render_template("auth/staff_sessions.html", employee=employee, sessions=active_sessions(employee.id))


@bp.route("/admin/staff/<int:employee_id>/sessions/end", methods=["POST"])
@require(Permission.AUTH_SESSION_REVOKE)
def end_staff_sessions(employee_id: int) -> ResponseReturnValue:
    employee = _employee_or_404(employee_id)
    count = end_all_sessions(current_user, employee)
    db_session.commit()
    if employee.id == current_user.id:
        return _end_this_browser()
    flash(_("%(name)s has been signed out everywhere (%(count)s sessions).", name=employee.name, count=count),
          "success")
    return redirect(url_for("auth.staff_sessions", employee_id=employee.id))


# --- the unlock link mailed to the owner of a delayed account ------------------------------------------


@bp.route("/account/unlock/<token>", methods=["GET", "POST"])
@public
def unlock(token: str) -> ResponseReturnValue:
    """GET shows a button and writes nothing (mail scanners open links); POST spends the link."""
    if len(token) > 100:
        abort(404)
    if request.method != "POST":  # GET and HEAD
        valid = unlock_is_valid(token, now())
        return render_template("auth/unlock.html", valid=valid), 200 if valid else 404
    employee_id = use_unlock_link(token)
    db_session.commit()
    if employee_id is None:
        return render_template("auth/unlock.html", valid=False), 404
    flash(_("The wait has been lifted for this browser. Please sign in."), "success")
    return _remember_device(redirect(url_for("auth.login")), employee_id)
