"""Rendering a notification in its recipient's language, deciding at send time whether it is
still worth sending (a reminder for a past session or an ended place never goes out)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime as rfc_date
from email.utils import formataddr
from string import Formatter
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.clock import TOKYO, now
from app.db import db_session
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.org.models import Employee
from app.reminders.kinds import KINDS
from app.reminders.models import KindSetting, MessageTemplate, Notification, OptOut
from app.scheduling.models import SessionStatus


@dataclass
class Rendered:
    subject: str
    body: str
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)  # (filename, data, mime type)


class SafeDict(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def placeholders_in(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def fill(text: str, values: dict[str, Any]) -> str:
    try:
        return text.format_map(SafeDict(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return text  # a malformed template shows literally rather than failing the send


def _when(instant: datetime, locale: str) -> str:
    local = instant.astimezone(TOKYO)
    if locale == "ja":
        return f"{local.year}年{local.month}月{local.day}日({'月火水木金土日'[local.weekday()]}) {local:%H:%M}"
    return local.strftime("%a %d %b %Y %H:%M") + " (JST)"


def _base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def template_for(kind: str, locale: str) -> tuple[str, str]:
    override = db_session.scalar(select(MessageTemplate).where(MessageTemplate.kind == kind,
                                                               MessageTemplate.locale == locale))
    if override is not None:
        return override.subject, override.body
    spec = KINDS[kind]
    return (spec.subject_ja, spec.body_ja) if locale == "ja" else (spec.subject_en, spec.body_en)


def skip_reason(notification: Notification) -> str | None:
    """Why this message must not go out now (None: send it)."""
    setting = db_session.get(KindSetting, notification.kind)
    if setting is not None and not setting.is_enabled:
        return "kind switched off"
    spec = KINDS[notification.kind]
    if not spec.mandatory and db_session.get(OptOut, (notification.recipient_id, notification.kind)) is not None:
        return "recipient opted out"
    recipient = db_session.get(Employee, notification.recipient_id)
    if recipient is None or not recipient.is_active:
        return "recipient inactive"
    enrolment = _enrolment(notification)
    if notification.kind == "session_reminder":
        if enrolment is None or enrolment.state != EnrolmentState.CONFIRMED:
            return "enrolment no longer confirmed"
        session = enrolment.training_session
        if session.status != SessionStatus.SCHEDULED or session.starts_at <= now():
            return "session cancelled or already started"
        if notification.context.get("sequence_seen") not in (None, session.sequence):
            return "session moved since"
    if notification.kind == "approval_requested":
        if enrolment is None or enrolment.state != EnrolmentState.PENDING or enrolment.approval_stage not in (
                ApprovalStage.MANAGER, ApprovalStage.HR):
            return "request already decided"
    if notification.kind.startswith("assignment_"):
        from app import hooks
        from app.catalog.models import Assignment
        from app.enrollment.services import has_live_enrolment

        assignment_id = int(notification.context.get("assignment_id", 0))
        if not hooks.assignment_still_owed(assignment_id):
            return "assignment no longer owed"
        assignment = db_session.get(Assignment, assignment_id)
        if (notification.kind == "assignment_not_enrolled" and assignment is not None
                and has_live_enrolment(assignment.employee_id, assignment.course_id)):
            return "enrolled since"
    return None


def _enrolment(notification: Notification) -> Enrolment | None:
    enrolment_id = notification.context.get("enrolment_id")
    return db_session.get(Enrolment, enrolment_id) if enrolment_id else None


def render(notification: Notification) -> Rendered:
    recipient = db_session.get(Employee, notification.recipient_id)
    assert recipient is not None
    locale = recipient.locale if recipient.locale in ("ja", "en") else "ja"
    values: dict[str, Any] = {"name": recipient.name, "url": _base_url() + "/my-learning", **{
        k: v for k, v in notification.context.items() if isinstance(v, (str, int))}}
    attachments: list[tuple[str, bytes, str]] = []
    enrolment = _enrolment(notification)
    if enrolment is not None:
        session = enrolment.training_session
        values.update(course=enrolment.course.title(locale), session_start=_when(session.starts_at, locale),
                      place=session.location or ("オンライン" if locale == "ja" else "Online"),
                      session_url=session.online_url or "", url=f"{_base_url()}/enrolments/{enrolment.id}",
                      requester=enrolment.employee.name)
        if notification.kind == "enrolment_waitlisted":
            from app.enrollment.queries import positions

            values["position"] = positions(session.id).get(enrolment.id, "-")
        if notification.kind == "approval_requested":
            values["url"] = _base_url() + "/approvals"
        if notification.kind == "session_cancelled":
            values["url"] = f"{_base_url()}/catalog/courses/{enrolment.course.code}"
        if KINDS[notification.kind].attach_ics:
            from app.enrollment.calendar import build_calendar

            ics = build_calendar([enrolment], domain=current_app.config["CALENDAR_UID_DOMAIN"],
                                 name=enrolment.course.title_ja, base_url=_base_url())
            attachments.append((f"manabi-{enrolment.id}.ics", ics, "text/calendar"))
    if "assignment_id" in notification.context:
        from app import hooks

        values.update(hooks.assignment_values(int(notification.context["assignment_id"]), locale))
        values.setdefault("url", _base_url() + "/my-learning")
    if notification.kind == "manager_digest":
        values["url"] = _base_url() + "/approvals"
    values.update(_cohort_values(notification, locale))
    subject, body = template_for(notification.kind, locale)
    return Rendered(fill(subject, values).replace("\n", " ")[:300], fill(body, values), attachments)


def build_email(notification: Notification, rendered: Rendered) -> EmailMessage:
    config = current_app.config
    recipient = db_session.get(Employee, notification.recipient_id)
    assert recipient is not None
    message = EmailMessage()
    message["From"] = formataddr(("まなび 研修担当", config["MAIL_SENDER"]))
    message["To"] = formataddr((recipient.name, recipient.email))
    message["Subject"] = rendered.subject
    message["Date"] = rfc_date(now())
    # Derived from the row, so a resend after a crash is recognisable as the same message.
    message["Message-ID"] = f"<notification-{notification.id}@{config['CALENDAR_UID_DOMAIN']}>"
    message["X-Manabi-Kind"] = notification.kind
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.body)
    for filename, data, mime in rendered.attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename,
                               params={"method": "PUBLISH"} if subtype == "calendar" else {})
    return message


def _cohort_values(notification: Notification, locale: str) -> dict[str, Any]:
    from app.cohorts.labels import MILESTONE_LABELS
    from app.cohorts.models import Application, Milestone, Submission

    values: dict[str, Any] = {}
    context = notification.context
    if "application_id" in context:
        application = db_session.get(Application, context["application_id"])
        if application is not None:
            cohort = application.cohort
            values["cohort"] = f"{cohort.programme.title(locale)} {cohort.name}"
            values["applicant"] = application.employee.name
            results = {"selected": ("選考されました", "selected"), "reserve": ("補欠です", "on the reserve list"),
                       "declined": ("今回は選考されませんでした", "not selected this time"),
                       "undecided": ("今回は選考されませんでした", "not selected this time")}
            ja, en = results[application.decision.value]
            values["result"] = ja if locale == "ja" else en
            values["url"] = f"{_base_url()}/cohorts/{cohort.id}" if notification.kind == "cohort_result" \
                else _base_url() + "/cohorts/endorsements"
    if "submission_id" in context:
        submission = db_session.get(Submission, context["submission_id"])
        if submission is not None:
            with_locale = MILESTONE_LABELS[submission.milestone.kind.value]
            values["milestone"] = str(with_locale)
            accepted = submission.status.value == "accepted"
            values["result"] = ("承認されました" if accepted else "修正を求められています") if locale == "ja" else (
                "accepted" if accepted else "returned for revision")
            values["url"] = f"{_base_url()}/cohorts/submissions/{submission.id}"
    if "milestone_id" in context:
        milestone = db_session.get(Milestone, context["milestone_id"])
        if milestone is not None:
            values["milestone"] = str(MILESTONE_LABELS[milestone.kind.value])
            values["due_date"] = _when(milestone.due_at, locale)
            values["url"] = f"{_base_url()}/cohorts/{milestone.cohort_id}/work"
    return values
