"""GET /metrics: the Prometheus text for a scraper holding the token (`Authorization: Bearer
<METRICS_TOKEN>`). Without a configured token the page does not exist (404): default deny.

GET /admin/operations: the administrator's page on the scheduler, the outbox, the background-job
queue, the database and the version running (app/ops/operations.py reads it)."""
from __future__ import annotations

import hmac
from datetime import timedelta

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from app.cli.scheduled_jobs import scheduled_jobs
from app.core.clock import now
from app.core.db import get_engine
from app.core.scheduler import ScheduledJob
from app.ops.metrics import ManabiCollector
from app.ops.operations import operations as read_operations
from app.permissions import Permission, public, require
from app.web.locale import gettext as _
from app.web.locale import lazy_gettext as _l
from app.web.metrics import render

bp = Blueprint("ops", __name__)


@bp.route("/metrics")
@public  # the bearer token below is the check; no signed-in person reaches it without one
def metrics() -> ResponseReturnValue:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not offered:
        return "token required\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"',
                                         "Content-Type": "text/plain; charset=utf-8"}
    if not hmac.compare_digest(offered.strip().encode(), token.encode()):
        return "wrong token\n", 403, {"Content-Type": "text/plain; charset=utf-8"}
    collector = ManabiCollector(get_engine(current_app),
                                timedelta(seconds=current_app.config["SCHEDULER_LEASE_SECONDS"]))
    return render(collector), 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}


WEEKDAYS = {"mon": _l("Mondays"), "tue": _l("Tuesdays"), "wed": _l("Wednesdays"), "thu": _l("Thursdays"),
            "fri": _l("Fridays"), "sat": _l("Saturdays"), "sun": _l("Sundays")}
JOB_LABELS = {"deliver": _l("Sending the messages due"), "scan": _l("Scans (completions, reminders, renewals)"),
              "digest": _l("Managers' weekly digest"), "jobs": _l("Background jobs"),
              "retention": _l("Retention (deleting expired data)")}


def schedule_words(job: ScheduledJob) -> str:
    """"Every 30 seconds", "Mondays at 08:00", "Daily at 02:30" (Japan time) for the fixed jobs."""
    args = job.trigger_args
    if job.trigger == "interval":
        seconds = int(timedelta(**{k: v for k, v in args.items()
                                   if k in ("weeks", "days", "hours", "minutes", "seconds")}).total_seconds())
        if seconds and seconds % 3600 == 0:
            hours = seconds // 3600
            return _("Every hour") if hours == 1 else _("Every %(num)s hours", num=hours)
        if seconds and seconds % 60 == 0:
            minutes = seconds // 60
            return _("Every minute") if minutes == 1 else _("Every %(num)s minutes", num=minutes)
        return _("Every %(num)s seconds", num=seconds)
    if job.trigger == "cron" and set(args) <= {"day_of_week", "hour", "minute"} and "hour" in args:
        at = f"{int(args['hour']):02d}:{int(args.get('minute', 0)):02d}"
        day = WEEKDAYS.get(str(args.get("day_of_week", "")))
        if day:
            return _("%(days)s at %(time)s", days=str(day), time=at)
        if "day_of_week" not in args:
            return _("Daily at %(time)s", time=at)
    return ", ".join(f"{key}={value}" for key, value in sorted(args.items()))


@bp.route("/admin/operations")
@require(Permission.OPS_VIEW)
def operations() -> ResponseReturnValue:
    jobs = scheduled_jobs(current_app)
    state = read_operations(jobs, now(), current_app.config.get("MANABI_BUILD"))
    return render_template("ops/operations.html", ops=state, schedules={job.name: schedule_words(job) for job in jobs},
                           labels=JOB_LABELS)
