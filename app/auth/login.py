"""Flask-Login wiring and the forced password change after a temporary password."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user
from sqlalchemy import ColumnElement

from app.auth.models import UserSession
from app.auth.sessions import SESSION_TOKEN_KEY, load_signed_in, signed_in_statement, touch
from app.core.db import SAFE_METHODS
from app.org.models import Employee
from app.permissions import remember_standing, standing_columns
from app.web.locale import lazy_gettext as _l

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to open this page.")
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"

MUST_CHANGE_KEY = "must_change_password"
_ALLOWED_WHILE_CHANGING = {"auth.change_password", "auth.logout", "static", "home.healthz", "auth.set_locale_view"}


_SESSION_ROW = "_manabi_user_session"  # on g: this request's UserSession row
_VALUES = "_manabi_signed_in_values"  # on g: what later domains asked to read with the person
_COLUMNS = "manabi.signed_in_columns"  # in app.extensions: name -> column, see read_with_signed_in_user
_STATEMENT = "manabi.signed_in_statement"  # in app.extensions: the one statement, built at the first request

SignedInColumn = Callable[[], ColumnElement[Any]]


def read_with_signed_in_user(app: Flask, name: str, column: SignedInColumn) -> None:
    """Have every signed-in request read one more thing about the person in its one statement: for
    what a later domain shows in the layout on every page (the unread count: auth may not import
    reminders). `column()` builds a scalar subquery correlated to Employee; the value is
    `signed_in_value(name)` for the rest of the request."""
    app.extensions.setdefault(_COLUMNS, {})[name] = column


def signed_in_value(name: str) -> Any | None:
    """A value registered with `read_with_signed_in_user`, as read with this request's user (None
    before the user is loaded, when nobody is signed in, or for a name nobody registered)."""
    values: dict[str, Any] | None = g.get(_VALUES)
    return values.get(name) if values is not None else None


@login_manager.user_loader
def _load_user(user_id: str) -> Employee | None:
    """The person, only while their server-side session row is active (app/auth/sessions.py):
    a cookie copied before sign-out, a password change, deactivation or "sign out everywhere"
    opens nothing. One statement per signed-in request reads the person, the session row and
    everything the layout needs about them: their roles and headed units (kept for this request
    for app/permissions.py) and what later domains registered (`read_with_signed_in_user`).
    Nothing outlives the request, so a role or headship change shows on the next one."""
    if not user_id.isdigit() or len(user_id) > 18:
        return None
    registered: dict[str, SignedInColumn] = current_app.extensions.get(_COLUMNS, {})
    statement = current_app.extensions.get(_STATEMENT)
    if statement is None:  # the registrations are made when the app is created: build it once
        statement = signed_in_statement((*standing_columns(), *(column() for column in registered.values())))
        current_app.extensions[_STATEMENT] = statement
    found = load_signed_in(statement, int(user_id), session.get(SESSION_TOKEN_KEY))
    if found is None:
        return None
    employee, row, (roles, headed_unit_paths, *values) = found
    remember_standing(employee.id, roles, headed_unit_paths)
    setattr(g, _VALUES, dict(zip(registered, values, strict=True)))
    g.setdefault(_SESSION_ROW, row)
    if request.method not in SAFE_METHODS:
        touch(row)  # a writing request notes activity (at most once a minute); a GET never writes
    return employee


def current_session() -> UserSession | None:
    """This request's session row (after the user was loaded), e.g. to keep it on a password change."""
    if not current_user.is_authenticated:
        return None
    return g.get(_SESSION_ROW)


def init_app(app: Flask) -> None:
    # Templates get the lazy `current_user` proxy instead of Flask-Login's processor, which loads
    # the user for every template: a page that shows nothing of the user (an error page while the
    # database is down) must render without a query.
    login_manager.init_app(app, add_context_processor=False)
    app.context_processor(lambda: {"current_user": current_user})

    @app.before_request
    def _force_password_change() -> ResponseReturnValue | None:
        if (
            session.get(MUST_CHANGE_KEY)
            and current_user.is_authenticated
            and request.endpoint not in _ALLOWED_WHILE_CHANGING
        ):
            return redirect(url_for("auth.change_password"))
        return None
