"""The job page: how far a background job is, then what came of it. It refreshes itself every
two seconds until the job ends (a small script, or a meta refresh without JavaScript)."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.core.clock import now
from app.core.db import db_session
from app.jobs.models import BackgroundJob, JobState
from app.jobs.runner import KINDS
from app.permissions import can_view_job, signed_in

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
SLOW_START = timedelta(minutes=1)  # the runner looks every few seconds: longer means it is not running


@bp.route("/<int:job_id>")
@signed_in
def show(job_id: int) -> ResponseReturnValue:
    job = db_session.get(BackgroundJob, job_id)  # <int:> takes ids 1 .. 2**31 - 1 only (app/web/ids.py)
    if job is None:
        abort(404)
    if not can_view_job(current_user, job):
        abort(403)
    waiting_long = job.state == JobState.QUEUED and now() - job.created_at > SLOW_START
    page = render_template("jobs/show.html", job=job, kind=KINDS.get(job.kind), waiting_long=waiting_long)
    return page, 200, {"Cache-Control": "no-store"}
