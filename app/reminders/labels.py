"""Display names of the outbox's delivery states and of the reasons the system records for a
message it did not send (`Notification.last_error`), in the reader's language.

The stored values stay as they are (English codes, searched and compared by the code); only what
is shown is translated. A reason not listed here is an error the mail server or the code gave
(an exception's text), shown as the technical text it is.
"""
from __future__ import annotations

from flask import Flask

from app.web.locale import lazy_gettext as _l

DELIVERY_STATUS_LABELS = {
    "pending": _l("Pending"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "skipped": _l("Skipped"),
    "void": _l("Void"),
}
# rendering.skip_reason, and services.hand_over_notifications' note.
REASON_LABELS = {
    "kind switched off": _l("This kind of message is switched off"),
    "recipient opted out": _l("The recipient turned this kind of message off"),
    "recipient inactive": _l("The recipient is no longer active"),
    "enrolment no longer confirmed": _l("The place is no longer confirmed"),
    "session cancelled or already started": _l("The session was cancelled or has started"),
    "session moved since": _l("The session has moved since"),
    "request already decided": _l("The request was already decided"),
    "request handed to another head": _l("The request went to another head"),
    "nothing overdue any more": _l("Nothing is overdue any more"),
    "nothing handed over is still waiting": _l("Nothing handed over is still waiting"),
    "assignment no longer owed": _l("The training is no longer owed"),
    "enrolled since": _l("The person has enrolled since"),
    "renewed or revoked since": _l("Renewed or revoked since"),
    "handed over after a transfer": _l("Handed to the new head after a transfer"),
}


def delivery_status_label(status: object) -> str:
    value = str(getattr(status, "value", status))
    return str(DELIVERY_STATUS_LABELS.get(value, value))


def reason_label(reason: str) -> str | None:
    """The translated reason, or None when `reason` is an error's own text."""
    label = REASON_LABELS.get(reason)
    return None if label is None else str(label)


def register(app: Flask) -> None:
    app.jinja_env.globals["DELIVERY_STATUS_LABELS"] = DELIVERY_STATUS_LABELS
    app.jinja_env.filters["delivery_status"] = delivery_status_label
    app.jinja_env.globals["delivery_reason"] = reason_label
