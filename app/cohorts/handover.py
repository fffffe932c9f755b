"""Transfers hand applications waiting for endorsement to the applicant's new head.

The right to endorse is read from the organisation (`permissions.can_endorse_application`: a head
whose subtree holds the applicant), so a transfer moves it by itself; what is stored is who was
asked (`Application.approver_id`, the head the notice went to). When the organisation changes
(app/org ApproversChanged) that head is brought up to date in the transfer's transaction, each
hand-over is in the audit trail, and `EndorsementsRerouted` announces them (app/reminders tells
the new head and voids the old head's unsent notice).
"""
from __future__ import annotations

from sqlalchemy import or_, select

from app.audit.models import AuditEvent
from app.audit.services import record_event
from app.cohorts.events import EndorsementsRerouted
from app.cohorts.models import Application, Cohort, Endorsement
from app.cohorts.transitions import reroute_endorsement
from app.core.db import db_session
from app.core.events import emit
from app.enrollment.events import Handover
from app.org.events import ApproversChanged
from app.org.models import Employee, Unit
from app.org.queries import managers_of
from app.web.locale import format_datetime
from app.web.locale import gettext as _

REROUTED_ACTION = "cohorts.endorsement_rerouted"


def reroute_pending_endorsements(change: ApproversChanged) -> list[Handover]:
    """Applications waiting for endorsement whose applicant now reports to another head go to
    that head. One withdrawn or endorsed in a race is left as it is (the move is guarded)."""
    in_scope = [Application.employee_id.in_(change.employee_ids)] if change.employee_ids else []
    if change.unit_paths:
        in_scope.append(Application.employee_id.in_(
            select(Employee.id).join(Unit, Employee.unit_id == Unit.id)
            .where(or_(*(Unit.path.startswith(path) for path in change.unit_paths)))))
    if not in_scope:
        return []
    pending = list(db_session.scalars(
        select(Application).join(Cohort, Cohort.id == Application.cohort_id)
        .where(Application.endorsement == Endorsement.PENDING, Application.is_withdrawn.is_(False),
               Cohort.requires_endorsement.is_(True), or_(*in_scope))
        .order_by(Application.id).execution_options(populate_existing=True)))
    heads = managers_of({a.employee_id for a in pending})
    actor = db_session.get(Employee, change.actor_id) if change.actor_id else None
    handovers = []
    for application in pending:
        before, after = application.approver_id, heads.get(application.employee_id)
        if before == after or not reroute_endorsement(application, after):
            continue
        record_event(actor, REROUTED_ACTION, "cohort_application", application.id,
                     before={"approver_id": before}, after={"approver_id": after},
                     summary=f"{change.reason} {change.change_key}")
        handovers.append(Handover(application.id, application.employee_id, before, after))
    if handovers:
        emit(EndorsementsRerouted(change.change_key, tuple(handovers)))
    return handovers


def handed_over_notice(actor: Employee, application: Application) -> str | None:
    """What to tell a former head who tries to endorse an application a transfer handed on."""
    events = db_session.scalars(select(AuditEvent).where(
        AuditEvent.target_type == "cohort_application", AuditEvent.target_id == str(application.id),
        AuditEvent.action == REROUTED_ACTION).order_by(AuditEvent.id.desc()))
    for event in events:
        if (event.before or {}).get("approver_id") == actor.id:
            to_id = (event.after or {}).get("approver_id")
            head = db_session.get(Employee, to_id) if to_id else None
            return _("After a transfer, %(name)s's application was handed to %(head)s on %(date)s; you can no "
                     "longer endorse it.", name=application.employee.name, head=head.name if head else "-",
                     date=format_datetime(event.occurred_at))
    return None
