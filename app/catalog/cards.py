"""The catalog's course cards: the part everyone sees alike, rendered once per content.

A card's title, track, theme, format, hours, fiscal year and target grades are the same for
everyone reading the catalog in one language. They are rendered once per worker for each distinct
content and kept under that content: everything the fragment shows is in its key, so an edited
course is another key and nothing can be stale, and no write anywhere has to invalidate anything.
Someone's own badges ("for your grade", "assigned to you") and the seats left, which move with
every enrolment, are rendered live around it (templates/catalog/index.html).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from flask import Flask, current_app, request
from markupsafe import Markup

from app.catalog.models import Course
from app.web.locale import current_language


class CardFacts(NamedTuple):
    code: str
    title: str
    track: str
    theme: str
    delivery_format: str
    hours: float
    fiscal_year: int
    grades: tuple[str, ...]  # names of the target grades in the reader's language; empty: all grades
    language: str  # the labels and texts the fragment translates
    script_root: str  # where the app is mounted: the course link starts with it


def course_card_head(course: Course) -> Markup:
    language = current_language()
    facts = CardFacts(
        course.code, course.title(language), course.track.value, course.theme.value, course.delivery_format.value,
        round(float(course.hours), 1), course.fiscal_year,
        tuple(grade.name if language == "ja" else grade.name_en for grade in course.target_grades),
        language, request.script_root)
    return _rendered(facts)


@lru_cache(maxsize=2048)  # a few hundred courses × two languages, ~1 KB each
def _rendered(card: CardFacts) -> Markup:
    return Markup(current_app.jinja_env.get_template("catalog/_card_head.html").render(card=card))


def register(app: Flask) -> None:
    app.jinja_env.globals["course_card_head"] = course_card_head
