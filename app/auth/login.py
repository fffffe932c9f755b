"""Flask-Login wiring and the forced password change after a temporary password."""
from __future__ import annotations

from flask import Flask, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from sqlalchemy.orm import joinedload

from app.db import db_session
from app.org.models import Employee

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to open this page.")
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"

MUST_CHANGE_KEY = "must_change_password"
_ALLOWED_WHILE_CHANGING = {"auth.change_password", "auth.logout", "static", "core.healthz", "auth.set_locale_view"}


@login_manager.user_loader
def _load_user(user_id: str) -> Employee | None:
    if not user_id.isdigit():
        return None
    # Roles in the same statement: this runs on every signed-in request.
    employee = db_session.get(Employee, int(user_id), options=[joinedload(Employee.role_grants)])
    if employee is None or not employee.is_active:
        return None
    return employee


def init_app(app: Flask) -> None:
    # Templates get the lazy `current_user` proxy instead of Flask-Login's processor, which loads
    # the user for every template: a page that shows nothing of the user (an error page while the
    # database is down) must render without a query.
    login_manager.init_app(app, add_context_processor=False)
    app.context_processor(lambda: {"current_user": current_user})

    @app.before_request
    def _force_password_change():  # type: ignore[no-untyped-def]
        if (
            session.get(MUST_CHANGE_KEY)
            and current_user.is_authenticated
            and request.endpoint not in _ALLOWED_WHILE_CHANGING
        ):
            return redirect(url_for("auth.change_password"))
        return None
