"""Names of the organisation's data in the reader's language: grades and units.

Grades and units are data (rows the staff import and the reference ladder create), not messages,
so they are not in the translation catalogue: each row carries its English name (`name_en`).
Show them through these functions (templates: the `grade_label` and `unit_label` filters),
never as `.name`, so an English page never shows 課長級 while the row knows "Section chief level".
A row without an English name shows its Japanese one in English too.
"""
from __future__ import annotations

from flask import Flask

from app.org.models import Grade, Unit
from app.org.reference import GRADES
from app.web.locale import current_language

# A grade row whose English name is empty is named by its code, from the reference ladder.
KNOWN_GRADE_NAMES_EN = {code: name_en for code, _name, name_en in GRADES}


def grade_label(grade: Grade | None, language: str | None = None) -> str:
    if grade is None:
        return ""
    if (language or current_language()) == "ja":
        return grade.name
    return grade.name_en or KNOWN_GRADE_NAMES_EN.get(grade.code) or grade.name


def unit_label(unit: Unit | None, language: str | None = None) -> str:
    if unit is None:
        return ""
    if (language or current_language()) == "ja":
        return unit.name
    return unit.name_en or unit.name


def register(app: Flask) -> None:
    app.jinja_env.filters["grade_label"] = grade_label
    app.jinja_env.filters["unit_label"] = unit_label
