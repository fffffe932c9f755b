from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.auth.forms import ChangePasswordForm, LocaleForm, LoginForm
from app.auth.login import MUST_CHANGE_KEY
from app.auth.services import AuthError, ThrottlePolicy, change_own_password, set_locale, sign_in
from app.db import db_session
from app.permissions import public, signed_in
from app.safe_redirect import is_safe_local_path, safe_next

bp = Blueprint("auth", __name__)


def redirect_to_login():  # type: ignore[no-untyped-def]
    flash(_("Please sign in to open this page."), "info")
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def _policy() -> ThrottlePolicy:
    cfg = current_app.config
    return ThrottlePolicy(
        max_per_account=cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        max_per_address=cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        window=timedelta(seconds=cfg["LOGIN_THROTTLE_WINDOW_SECONDS"]),
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login():  # type: ignore[no-untyped-def]
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        try:
            result = sign_in(form.login.data, form.password.data, request.remote_addr or "-", _policy())
        except AuthError as error:
            db_session.commit()  # keep the failure count
            flash(str(error), "error")
            status = 401
        else:
            db_session.commit()
            session.clear()
            login_user(result.employee)
            session[MUST_CHANGE_KEY] = result.must_change_password
            if result.employee.locale in current_app.config["LANGUAGES"]:
                session["locale"] = result.employee.locale  # error pages read it without the database
            if result.must_change_password:
                flash(_("You signed in with a temporary password. Please choose your own password."), "info")
                return redirect(url_for("auth.change_password"))
            return redirect(safe_next(form.next.data))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@public
def logout():  # type: ignore[no-untyped-def]
    locale = session.get("locale")
    logout_user()
    session.clear()
    if locale:
        session["locale"] = locale
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
def change_password():  # type: ignore[no-untyped-def]
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_own_password(
                current_user, form.current_password.data, form.new_password.data,
                current_app.config["PASSWORD_MIN_LENGTH"],
            )
        except AuthError as error:
            db_session.rollback()
            form.new_password.errors = [*form.new_password.errors, str(error)]
        else:
            db_session.commit()
            session[MUST_CHANGE_KEY] = False
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("core.home"))
    status = 400 if request.method == "POST" else 200  # a successful POST has redirected above
    return render_template("auth/change_password.html", form=form,
                           forced=bool(session.get(MUST_CHANGE_KEY))), status


@bp.route("/locale", methods=["POST"])
@public
def set_locale_view():  # type: ignore[no-untyped-def]
    form = LocaleForm()
    target = form.next.data if is_safe_local_path(form.next.data) else url_for("core.home")
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            set_locale(current_user, form.locale.data)
            db_session.commit()
    return redirect(target)
