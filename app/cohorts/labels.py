from __future__ import annotations

from datetime import datetime

from flask import Flask

from app.core.clock import TOKYO
from app.web.locale import lazy_gettext as _l

MILESTONE_LABELS = {
    "plan": _l("Fieldwork plan"),
    "interim": _l("Interim report"),
    "final_report": _l("Final report"),
    "presentation": _l("Final presentation"),
}


def datetime_local(value: datetime | None) -> str:
    """The value an <input type="datetime-local"> expects, in Japan time."""
    return "" if value is None else value.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def register(app: Flask) -> None:
    app.jinja_env.globals["MILESTONE_LABELS"] = MILESTONE_LABELS
    app.jinja_env.filters["datetime_local"] = datetime_local
