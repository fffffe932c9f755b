from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from flask import Flask

from app.cohorts.models import Cohort
from app.core.clock import TOKYO
from app.web.locale import current_language
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


# A cohort's name is what HR typed (第1期, 第2期（追加募集）); there is no English column for it. The
# usual shape, 第N期 with an optional note in brackets, reads in English as "Cohort N (note)";
# a note or a name of another shape is shown as typed. Only English is built here (Japanese shows
# the name as typed), so the English is written out rather than looked up in the catalogue: a
# lookup would answer in the request's language when a mail is rendered in the recipient's.
_NUMBERED = re.compile(r"第\s*(?P<number>\d+)\s*期\s*(?:[（(](?P<note>[^）)]*)[）)])?")
COHORT_NOTES_EN = {"試行": "pilot", "追加募集": "additional intake", "追加": "additional"}


def cohort_name(cohort: Cohort | str, language: str | None = None) -> str:
    """A cohort's name in the reader's language: 第1期 in Japanese, "Cohort 1" in English."""
    name = cohort if isinstance(cohort, str) else cohort.name
    if (language or current_language()) == "ja":
        return name
    matched = _NUMBERED.fullmatch(unicodedata.normalize("NFKC", name).strip())
    if matched is None:
        return name
    english = f"Cohort {int(matched['number'])}"
    if matched["note"]:
        english += f" ({COHORT_NOTES_EN.get(matched['note'].strip(), matched['note'].strip())})"
    return english


def cohort_title(cohort: Cohort, language: str | None = None) -> str:
    """The programme and the cohort: スマート人材育成プログラム 第1期 / Smart Talent Programme, Cohort 1."""
    language = language or current_language()
    if language == "ja":
        return f"{cohort.programme.title(language)} {cohort.name}"
    return f"{cohort.programme.title(language)}, {cohort_name(cohort, language)}"


def register(app: Flask) -> None:
    app.jinja_env.globals["MILESTONE_LABELS"] = MILESTONE_LABELS
    app.jinja_env.filters["cohort_name"] = cohort_name
    app.jinja_env.filters["cohort_title"] = cohort_title
    app.jinja_env.filters["datetime_local"] = datetime_local
