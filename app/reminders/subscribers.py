"""Turns what other domains announce into notification rows, inside their transaction."""
from __future__ import annotations

from sqlalchemy import select

from app.auth.events import SignInDelayed
from app.cohorts.events import ApplicationDecided, EndorsementRequested, EndorsementsRerouted, SubmissionReviewed
from app.cohorts.models import Application, FieldworkTeam, Submission
from app.core.db import db_session
from app.core.events import subscribe
from app.enrollment.events import ApprovalsRerouted, EnrolmentTransitioned, Handover
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState, is_active_place
from app.org.models import Employee, RoleGrant, RoleName
from app.reminders.services import queue, queue_or_merge, schedule_session_reminders, void_pending, void_unsent
from app.scheduling.events import SessionMoved
from app.scheduling.models import TrainingSession
from app.web.external_urls import base_url

# enrolment transition kind -> notification kind for the employee
_TO_EMPLOYEE = {
    "confirmed": "enrolment_confirmed",
    "waitlisted": "enrolment_waitlisted",
    "approved": "enrolment_approved",
    "declined": "enrolment_declined",
    "cancelled": "enrolment_cancelled",
    "session_cancelled": "session_cancelled",
}


def on_enrolment_transitioned(event: EnrolmentTransitioned) -> None:
    enrolment = db_session.get(Enrolment, event.enrolment_id)
    if enrolment is None:
        return
    context = {"enrolment_id": enrolment.id, "reason": event.note}
    key = f"enrolment:{enrolment.id}:{event.kind}:{event.from_state}>{event.to_state}"
    if event.kind == "promoted":
        if event.to_state == EnrolmentState.CONFIRMED.value:
            queue(enrolment.employee_id, "enrolment_promoted", key, context, enrolment_id=enrolment.id)
    elif event.kind in ("requested", "forwarded"):
        approver_ids = _approvers(enrolment, event.kind)
        for approver_id in approver_ids:
            queue(approver_id, "approval_requested", f"{key}:to:{approver_id}", context, enrolment_id=enrolment.id)
    elif event.kind in _TO_EMPLOYEE:
        queue(enrolment.employee_id, _TO_EMPLOYEE[event.kind], key, context, enrolment_id=enrolment.id)

    if event.to_state == EnrolmentState.CONFIRMED.value:
        schedule_session_reminders(enrolment)
    elif event.to_state in (EnrolmentState.CANCELLED.value, EnrolmentState.DECLINED.value):
        void_pending(enrolment.id)


def _approvers(enrolment: Enrolment, kind: str) -> list[int]:
    if enrolment.approval_stage == ApprovalStage.MANAGER and enrolment.approver_id:
        return [enrolment.approver_id]
    if enrolment.approval_stage == ApprovalStage.HR:
        return list(db_session.scalars(select(Employee.id).join(RoleGrant).where(
            RoleGrant.role == RoleName.HR, Employee.is_active.is_(True))))
    return []


def on_session_moved(event: SessionMoved) -> None:
    training_session = db_session.get(TrainingSession, event.session_id)
    if training_session is None:
        return
    enrolments = db_session.scalars(select(Enrolment).where(Enrolment.session_id == training_session.id,
                                                            is_active_place()))
    for enrolment in enrolments:
        queue(enrolment.employee_id, "session_moved", f"moved:{enrolment.id}:{training_session.sequence}",
              {"enrolment_id": enrolment.id}, enrolment_id=enrolment.id)
        if enrolment.state == EnrolmentState.CONFIRMED:
            schedule_session_reminders(enrolment)


def on_endorsement_requested(event: EndorsementRequested) -> None:
    application = db_session.get(Application, event.application_id)
    if application is not None and application.approver_id is not None:  # the head asked (app/cohorts)
        queue(application.approver_id, "cohort_endorsement_requested", f"cohort:endorse:{application.id}",
              {"application_id": application.id})


def on_approvals_rerouted(event: ApprovalsRerouted) -> None:
    """Requests a transfer handed to a new head: the old head's unsent "please approve" notices are
    voided, and each new head gets one notice listing what they took over in this change."""
    for handover in event.handovers:
        if handover.from_approver_id is not None:
            void_unsent(handover.from_approver_id, "approval_requested", enrolment_id=handover.item_id)
    _tell_new_heads(event.change_key, event.handovers, "enrolment_ids")


def on_endorsements_rerouted(event: EndorsementsRerouted) -> None:
    """Applications a transfer handed to a new head: as `on_approvals_rerouted`."""
    for handover in event.handovers:
        if handover.from_approver_id is not None:
            void_unsent(handover.from_approver_id, "cohort_endorsement_requested",
                        dedupe_key=f"cohort:endorse:{handover.item_id}")
    _tell_new_heads(event.change_key, event.handovers, "application_ids")


def _tell_new_heads(change_key: str, handovers: tuple[Handover, ...], list_key: str) -> None:
    """One notice per new head and change, whatever domains hand them work (merged while unsent)."""
    by_head: dict[int, list[int]] = {}
    for handover in handovers:
        if handover.to_approver_id is not None:  # None: HR's stage, told as a forwarded request
            by_head.setdefault(handover.to_approver_id, []).append(handover.item_id)
    for head_id, items in sorted(by_head.items()):
        queue_or_merge(head_id, "work_handed_over", f"handover:{change_key}:{head_id}", list_key, items)


def on_application_decided(event: ApplicationDecided) -> None:
    application = db_session.get(Application, event.application_id)
    if application is not None:
        queue(application.employee_id, "cohort_result",
              f"cohort:result:{application.id}:{application.decision.value}", {"application_id": application.id})


def on_submission_reviewed(event: SubmissionReviewed) -> None:
    submission = db_session.get(Submission, event.submission_id)
    if submission is None:
        return
    team = db_session.get(FieldworkTeam, submission.team_id) if submission.team_id else None
    people = [m.employee_id for m in team.members] if team else [submission.employee_id]
    people = [person for person in people if person is not None]
    for person in people:
        queue(person, "cohort_submission_reviewed", f"cohort:review:{submission.id}:{person}",
              {"submission_id": submission.id})


def on_sign_in_delayed(event: SignInDelayed) -> None:
    """The owner of a delayed account gets the unlock link (urgent: any hour, at once)."""
    url = base_url() + event.unlock_path
    queue(event.employee_id, "sign_in_unlock", f"sign-in-unlock:{event.unlock_id}", {"url": url})


def register() -> None:
    subscribe(EnrolmentTransitioned, on_enrolment_transitioned)
    subscribe(SessionMoved, on_session_moved)
    subscribe(EndorsementRequested, on_endorsement_requested)
    subscribe(ApprovalsRerouted, on_approvals_rerouted)
    subscribe(EndorsementsRerouted, on_endorsements_rerouted)
    subscribe(ApplicationDecided, on_application_decided)
    subscribe(SubmissionReviewed, on_submission_reviewed)
    subscribe(SignInDelayed, on_sign_in_delayed)
