"""GET /metrics: the Prometheus text for a scraper holding the token (`Authorization: Bearer
<METRICS_TOKEN>`). Without a configured token the page does not exist (404): default deny."""
from __future__ import annotations

import hmac
from datetime import timedelta

from flask import Blueprint, abort, current_app, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.db import get_engine
from app.ops.metrics import ManabiCollector
from app.permissions import public
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
