from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text

from app.core.db import db_session
from app.home.panels import compose
from app.permissions import public, signed_in
from app.web.errors import RETRY_AFTER_SECONDS, discard_failed_connection

bp = Blueprint("home", __name__)


@bp.route("/")
@signed_in
def home() -> ResponseReturnValue:
    """Things to do: one panel per role the person has (app/home/panels.py)."""
    return render_template("home/home.html", user=current_user, panels=compose(current_user))


@bp.route("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        db_session.execute(text("SELECT 1"))
    except Exception as error:
        discard_failed_connection()  # the next check connects afresh, so it recovers by itself
        body = jsonify(status="error", database="unavailable", detail=type(error).__name__)
        return body, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return jsonify(status="ok", database="ok")


@bp.route("/ping")
@public
def ping() -> ResponseReturnValue:
    """No database: the ceiling the benchmarks compare pages against."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}
