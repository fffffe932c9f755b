"""Display names of enrolment states and of the system's notes in an enrolment's history, in the
reader's language (pages, exports)."""
from __future__ import annotations

from flask import Flask

from app.web.locale import gettext as _
from app.web.locale import lazy_gettext as _l

STATE_LABELS = {
    "pending": _l("Awaiting approval"),
    "confirmed": _l("Confirmed"),
    "waitlisted": _l("Waitlisted"),
    "cancelled": _l("Cancelled"),
    "declined": _l("Declined"),
}
# Why approvers changed (app/org/events.py ApproversChanged.reason).
CHANGE_REASON_LABELS = {
    "transfer": _l("a transfer"),
    "head_changed": _l("a new head of unit"),
    "staff_import": _l("the staff import"),
}


def state_label(state: object) -> str:
    """An `EnrolmentState` (or its value) as the reader says it."""
    value = str(getattr(state, "value", state))
    return str(STATE_LABELS.get(value, value))


def history_note(note: str) -> str:
    """What an `EnrolmentEvent.note` tells the reader: the system writes "<kind>" or
    "<kind>: <text>" (transitions._record); the text is the person's own reason, except for
    requests handed to another approver, whose text is the system's ("rerouted: transfer <key>",
    "forwarded: transfer: no head above")."""
    kind, _sep, text = note.partition(": ")
    if kind == "rerouted":
        reason = CHANGE_REASON_LABELS.get(text.split(" ", 1)[0])
        return _("Handed to the new approver after %(reason)s", reason=reason) if reason else \
            _("Handed to the new approver")
    if kind == "forwarded" and text.endswith(": no head above"):
        reason = CHANGE_REASON_LABELS.get(text.split(":", 1)[0])
        return _("Sent to HR: after %(reason)s no head above is left to approve", reason=reason) if reason else \
            _("Sent to HR: no head above is left to approve")
    return text


def register(app: Flask) -> None:
    app.jinja_env.globals["ENROLMENT_STATE_LABELS"] = STATE_LABELS
    app.jinja_env.filters["enrolment_state"] = state_label
    app.jinja_env.filters["history_note"] = history_note
