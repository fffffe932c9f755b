"""Rendering a notification in its recipient's language, deciding at send time whether it is
still worth sending (a reminder for a past session or an ended place never goes out).

Both read from `Facts` (app/reminders/facts.py), loaded once for a whole batch of messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import groupby
from string import Formatter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.cohorts.labels import MILESTONE_LABELS, cohort_title
from app.cohorts.models import Application, Endorsement, Milestone, Submission
from app.core.clock import TOKYO
from app.core.db import db_session
from app.core.mail import Attachment, OutgoingMail, compose
from app.enrollment.models import ApprovalStage, Enrolment, EnrolmentState
from app.reminders.assignment_facts import AssignmentFacts
from app.reminders.facts import Facts, Letter
from app.reminders.kinds import KINDS, built_in_wording
from app.reminders.models import MessageTemplate
from app.scheduling.models import SessionStatus

SENDER_NAME = "まなび 研修担当"


@dataclass
class Rendered:
    subject: str
    body: str
    attachments: list[Attachment] = field(default_factory=list)


class SafeDict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def placeholders_in(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def fill(text: str, values: dict[str, Any]) -> str:
    try:
        return text.format_map(SafeDict(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return text  # a malformed template shows literally rather than failing the send


@lru_cache(maxsize=4096)  # a sweep names the same sessions' start times again and again
def _when(instant: datetime, locale: str) -> str:
    local = instant.astimezone(TOKYO)
    if locale == "ja":
        return f"{local.year}年{local.month}月{local.day}日({'月火水木金土日'[local.weekday()]}) {local:%H:%M}"
    return local.strftime("%a %d %b %Y %H:%M") + " (JST)"


def template_for(kind: str, locale: str) -> tuple[str, str]:
    """The wording HR set for a kind in a language, or the built-in one (the editor starts from it)."""
    override = db_session.execute(select(MessageTemplate.subject, MessageTemplate.body).where(
        MessageTemplate.kind == kind, MessageTemplate.locale == locale)).first()
    return (override.subject, override.body) if override is not None else built_in_wording(kind, locale)


def skip_reason(letter: Letter, facts: Facts, at: datetime) -> str | None:
    """Why this message must not go out at `at` (None: send it)."""
    if letter.kind in facts.disabled_kinds:
        return "kind switched off"
    if not KINDS[letter.kind].mandatory and (letter.recipient_id, letter.kind) in facts.opted_out:
        return "recipient opted out"
    recipient = facts.people.get(letter.recipient_id)
    if recipient is None or not recipient.is_active:
        return "recipient inactive"
    place = facts.place(letter)
    if letter.kind == "session_reminder":
        if place is None or place.state != EnrolmentState.CONFIRMED:
            return "enrolment no longer confirmed"
        if place.session_status != SessionStatus.SCHEDULED or place.starts_at <= at:
            return "session cancelled or already started"
        if letter.context.get("sequence_seen") not in (None, place.sequence):
            return "session moved since"
    if letter.kind == "approval_requested":
        if place is None or place.state != EnrolmentState.PENDING or place.approval_stage not in (
                ApprovalStage.MANAGER, ApprovalStage.HR):
            return "request already decided"
        if place.approval_stage == ApprovalStage.MANAGER and place.approver_id != letter.recipient_id:
            return "request handed to another head"
    if letter.kind == "overdue_team_digest" and not _still_overdue(letter, facts):
        return "nothing overdue any more"
    if letter.kind == "work_handed_over" and not handed_over_items(letter.recipient_id, letter.context):
        return "nothing handed over is still waiting"
    if letter.kind.startswith("assignment_"):
        assignment = facts.assignments.get(int(letter.context.get("assignment_id", 0)))
        if assignment is None or not assignment.still_owed:
            return "assignment no longer owed"
        if letter.kind == "assignment_not_enrolled" and assignment.enrolled:
            return "enrolled since"
    if letter.kind == "completion_expiring":
        expiring = facts.expiring.get(int(letter.context.get("completion_id", 0)))
        if expiring is None or not expiring.still_expiring:
            return "renewed or revoked since"
    return None


def render(letter: Letter, facts: Facts) -> Rendered:
    recipient = facts.people[letter.recipient_id]
    locale = recipient.locale
    base = facts.base_url
    values: dict[str, Any] = {"name": recipient.name, "url": base + "/my-learning", **{
        k: v for k, v in letter.context.items() if isinstance(v, (str, int))}}
    attachments: list[Attachment] = []
    place = facts.place(letter)
    if place is not None:
        requester = facts.people.get(place.employee_id)
        values.update(course=place.title(locale), session_start=_when(place.starts_at, locale),
                      place=place.location or ("オンライン" if locale == "ja" else "Online"),
                      session_url=place.online_url, url=f"{base}/enrolments/{place.id}",
                      requester=requester.name if requester else "")
        if letter.kind == "enrolment_waitlisted":
            values["position"] = facts.waitlist_position(place)
        if letter.kind == "approval_requested":
            values["url"] = base + "/approvals"
        if letter.kind == "session_cancelled":
            values["url"] = f"{base}/catalog/courses/{place.course_code}"
        if KINDS[letter.kind].attach_ics and place.session_id in facts.meetings:
            ics = facts.calendar(place)
            attachments.append(Attachment(f"manabi-{place.id}.ics", ics, "text/calendar", (("method", "PUBLISH"),)))
    if "assignment_id" in letter.context:
        assignment = facts.assignments.get(int(letter.context["assignment_id"]))
        if assignment is not None:
            values.update(assignment.values(locale))
    if "completion_id" in letter.context:
        expiring = facts.expiring.get(int(letter.context["completion_id"]))
        if expiring is not None:
            values.update(expiring.values(locale, base))
    if letter.kind == "manager_digest":
        values["url"] = base + "/approvals"
    if letter.kind == "overdue_team_digest":
        values.update(_overdue_digest_values(letter, facts, locale), url=base + "/team")
    if letter.kind == "work_handed_over":
        items = handed_over_items(letter.recipient_id, letter.context)
        values.update(items=_handed_over_text(items, locale), count=len(items), url=base + "/approvals",
                      endorsements_url=base + "/cohorts/endorsements")
    if not _COHORT_KEYS.isdisjoint(letter.context):
        values.update(_cohort_values(letter, locale, base))
    subject, body = facts.template(letter.kind, locale)
    return Rendered(fill(subject, values).replace("\n", " ")[:300], fill(body, values), attachments)


def build_mail(letter: Letter, rendered: Rendered, facts: Facts, sent_at: datetime) -> OutgoingMail:
    recipient = facts.people[letter.recipient_id]
    return compose(
        sender=(SENDER_NAME, facts.mail_sender), recipient=(recipient.name, recipient.email),
        subject=rendered.subject, body=rendered.body, date=sent_at,
        # Derived from the row, so a resend after a crash is recognisable as the same message.
        message_id=f"<notification-{letter.id}@{facts.calendar_domain}>",
        extra_headers=(("X-Manabi-Kind", letter.kind), ("Auto-Submitted", "auto-generated")),
        attachments=rendered.attachments)


_COHORT_KEYS = frozenset({"application_id", "submission_id", "milestone_id"})


def _cohort_values(letter: Letter, locale: str, base: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    context = letter.context
    if "application_id" in context:
        application = db_session.get(Application, context["application_id"])
        if application is not None:
            cohort = application.cohort
            values["cohort"] = cohort_title(cohort, locale)
            values["applicant"] = application.employee.name
            results = {"selected": ("選考されました", "selected"), "reserve": ("補欠です", "on the reserve list"),
                       "declined": ("今回は選考されませんでした", "not selected this time"),
                       "undecided": ("今回は選考されませんでした", "not selected this time")}
            ja, en = results[application.decision.value]
            values["result"] = ja if locale == "ja" else en
            values["url"] = f"{base}/cohorts/{cohort.id}" if letter.kind == "cohort_result" \
                else base + "/cohorts/endorsements"
    if "submission_id" in context:
        submission = db_session.get(Submission, context["submission_id"])
        if submission is not None:
            with_locale = MILESTONE_LABELS[submission.milestone.kind.value]
            values["milestone"] = str(with_locale)
            accepted = submission.status.value == "accepted"
            values["result"] = ("承認されました" if accepted else "修正を求められています") if locale == "ja" else (
                "accepted" if accepted else "returned for revision")
            values["url"] = f"{base}/cohorts/submissions/{submission.id}"
    if "milestone_id" in context:
        milestone = db_session.get(Milestone, context["milestone_id"])
        if milestone is not None:
            values["milestone"] = str(MILESTONE_LABELS[milestone.kind.value])
            values["due_date"] = _when(milestone.due_at, locale)
            values["url"] = f"{base}/cohorts/{milestone.cohort_id}/work"
    return values


# --- lists: a head's overdue staff, what a transfer handed a head ------------------------------


def _still_overdue(letter: Letter, facts: Facts) -> list[AssignmentFacts]:
    """The digest's assignments still owed, by person (name) and due date."""
    found = [facts.assignments[i] for i in map(int, letter.context.get("assignment_ids") or ())
             if i in facts.assignments and facts.assignments[i].still_owed]
    return sorted(found, key=lambda a: (a.employee_name, a.employee_id, a.due_on, a.id))


def _overdue_digest_values(letter: Letter, facts: Facts, locale: str) -> dict[str, Any]:
    """{items}: each person with their count, then their overdue courses; {count}, {people}."""
    owed = _still_overdue(letter, facts)
    lines: list[str] = []
    for (_name, _id), group in groupby(owed, key=lambda a: (a.employee_name, a.employee_id)):
        mine = list(group)
        lines.append(f"■ {mine[0].employee_name}（{len(mine)}件）" if locale == "ja"
                     else f"* {mine[0].employee_name} ({len(mine)})")
        for assignment in mine:
            shown = assignment.values(locale)
            lines.append(f"  ・{shown['course']}（期限 {shown['due_date']}）" if locale == "ja"
                         else f"  - {shown['course']} (due {shown['due_date']})")
    return {"items": "\n".join(lines), "count": len(owed), "people": len({a.employee_id for a in owed})}


@dataclass(frozen=True)
class HandedOverItem:
    kind: str  # "enrolment" or "application"
    person: str
    what_ja: str
    what_en: str


def handed_over_items(recipient_id: int, context: dict[str, Any]) -> list[HandedOverItem]:
    """The items of a hand-over notice that still wait for the recipient: requests still pending at
    the manager's stage with them as the approver, applications still waiting for their
    endorsement (one handed on again, or decided, since drops out)."""
    items: list[HandedOverItem] = []
    enrolment_ids = [int(i) for i in context.get("enrolment_ids") or ()]
    if enrolment_ids:
        for enrolment in db_session.scalars(select(Enrolment).where(
                Enrolment.id.in_(enrolment_ids), Enrolment.state == EnrolmentState.PENDING,
                Enrolment.approval_stage == ApprovalStage.MANAGER, Enrolment.approver_id == recipient_id)
                .options(joinedload(Enrolment.employee), joinedload(Enrolment.course),
                         joinedload(Enrolment.training_session)).order_by(Enrolment.id)):
            starts = enrolment.training_session.starts_at
            items.append(HandedOverItem(
                "enrolment", enrolment.employee.name,
                f"受講申込：{enrolment.course.title_ja}（{_when(starts, 'ja')}）",
                f"Enrolment request: {enrolment.course.title_en or enrolment.course.title_ja} ({_when(starts, 'en')})"))
    application_ids = [int(i) for i in context.get("application_ids") or ()]
    if application_ids:
        for application in db_session.scalars(select(Application).where(
                Application.id.in_(application_ids), Application.endorsement == Endorsement.PENDING,
                Application.is_withdrawn.is_(False), Application.approver_id == recipient_id)
                .options(joinedload(Application.employee), joinedload(Application.cohort))
                .order_by(Application.id)):
            cohort = application.cohort
            items.append(HandedOverItem(
                "application", application.employee.name,
                f"推薦：{cohort_title(cohort, 'ja')} への応募",
                f"To endorse: application to {cohort_title(cohort, 'en')}"))
    return items


def _handed_over_text(items: list[HandedOverItem], locale: str) -> str:
    return "\n".join(f"・{item.person}：{item.what_ja}" if locale == "ja" else f"- {item.person}: {item.what_en}"
                     for item in items)
