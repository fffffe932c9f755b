from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.audit.models import AuditEvent
from app.permissions import Permission, require
from app.web.pagination import paginate

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


@bp.route("/")
@require(Permission.AUDIT_EVENT_READ)
def events() -> ResponseReturnValue:
    action = request.args.get("action", "")[:80]
    target = request.args.get("target", "")[:40]
    stmt = select(AuditEvent).options(joinedload(AuditEvent.actor)).order_by(AuditEvent.id.desc())
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action))
    if target:
        stmt = stmt.where(AuditEvent.target_type == target)
    page = paginate(stmt, per_page=50)
    return render_template("audit/events.html", page=page, action=action, target=target)
