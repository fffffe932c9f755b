"""Display names of catalog enums, in the user's language."""
from __future__ import annotations

from flask import Flask

from app.web.locale import gettext
from app.web.locale import lazy_gettext as _l

TRACK_LABELS = {
    "grade_training": _l("Grade training"),
    "cohort_programme": _l("Cohort programme"),
    "elective": _l("Elective"),
}
THEME_LABELS = {
    "smart_government": _l("Smart Government"),
    "smart_workstyle": _l("Smart Workstyle"),
    "smart_solutions": _l("Smart Solutions"),
    "general": _l("General"),
}
FORMAT_LABELS = {
    "classroom": _l("Classroom"),
    "online": _l("Online (web meeting)"),
    "elearning": _l("E-learning"),
    "fieldwork": _l("Fieldwork"),
    "blended": _l("Blended"),
}
STATUS_LABELS = {
    "draft": _l("Draft"),
    "published": _l("Published"),
    "retired": _l("Retired"),
}
KIND_LABELS = {"course": _l("Course"), "programme": _l("Programme")}
RECURRENCE_LABELS = {
    "none": _l("Once"),
    "fiscal_year": _l("Every fiscal year"),
    "months": _l("Every N months"),
}
ASSIGNMENT_STATUS_LABELS = {
    "active": _l("Owed"),
    "withdrawn": _l("Withdrawn"),
    "superseded": _l("Past cycle"),
}


def register(app: Flask) -> None:
    app.jinja_env.globals.update(
        TRACK_LABELS=TRACK_LABELS, THEME_LABELS=THEME_LABELS, FORMAT_LABELS=FORMAT_LABELS,
        STATUS_LABELS=STATUS_LABELS, KIND_LABELS=KIND_LABELS, RECURRENCE_LABELS=RECURRENCE_LABELS,
        ASSIGNMENT_STATUS_LABELS=ASSIGNMENT_STATUS_LABELS,
    )
    app.jinja_env.filters["version_note"] = version_note


# What the system writes as a course version's note (services._record_version); a note typed in the
# designer is shown as typed.
VERSION_NOTE_LABELS = {
    "sync: added": _l("Added from its course file"),
    "sync: changed": _l("Updated from its course file"),
    "created": _l("Created"),
    "edited": _l("Edited"),
}
RUBRIC_MILESTONE_LABELS = {
    "plan": _l("Fieldwork plan"),
    "interim": _l("Interim report"),
    "final_report": _l("Final report"),
    "presentation": _l("Final presentation"),
}


def version_note(note: str) -> str:
    if note in VERSION_NOTE_LABELS:
        return str(VERSION_NOTE_LABELS[note])
    if note.startswith("rubric: "):
        milestone = note.removeprefix("rubric: ")
        return gettext("Rubric of %(milestone)s edited",
                       milestone=str(RUBRIC_MILESTONE_LABELS.get(milestone, milestone)))
    return note
