"""The forms of HR's report pages: the planned participants per course, and the half-year report's
narrative. Field names are those the pages have always posted (`plan-<course id>`, `narrative`,
`action`). Numbers are read by app/web/ids.parse_int (never int(), which reads "٣" as 3); text is
checked here (app/core/text_safety.py).

The plans page has a field per published course, so its form is built for them: `plans_form`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from flask_wtf import FlaskForm
from wtforms import Field, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from app.catalog.models import Course
from app.core.text_safety import MultiLineText
from app.web.fields import WholeNumberField
from app.web.locale import lazy_gettext as _l

PLANNED_MAX = 100_000  # participants of a course in a year: far more than the prefecture has staff
NARRATIVE_MAX = 20_000  # characters of the half-year report's narrative
HALF_YEAR_ACTIONS = ("save", "publish")


class PlansForm(FlaskForm):
    """HR's planned participants of a fiscal year (reports.plans): `plan-<course id>` per course
    the page lists. An empty field leaves that course's plan as it is."""

    courses: Sequence[Course] = ()

    def plan_field(self, course: Course) -> WholeNumberField:
        return cast(WholeNumberField, self[f"plan-{course.id}"])

    def planned(self) -> dict[int, int]:
        """Course id → the number typed, for the courses whose field holds one."""
        numbers = {course.id: self.plan_field(course).number for course in self.courses}
        return {course_id: number for course_id, number in numbers.items() if number is not None}

    def refused_codes(self) -> list[str]:
        """The codes of the courses whose number was refused, in the page's order."""
        return [course.code for course in self.courses if self.plan_field(course).errors]


def plans_form(courses: Sequence[Course], locale: str, planned: Mapping[int, int], **kwargs: Any) -> PlansForm:
    """A PlansForm with a field per course (labelled with its title), showing its current plan."""

    class CoursePlansForm(PlansForm):
        pass

    CoursePlansForm.courses = tuple(courses)
    message = _l("Enter a whole number from 0 to %(max)s.", max=PLANNED_MAX)
    for course in courses:
        current = planned.get(course.id)
        setattr(CoursePlansForm, f"plan-{course.id}", WholeNumberField(
            course.title(locale), message=message, maximum=PLANNED_MAX,
            default=str(current) if current is not None else ""))
    return CoursePlansForm(**kwargs)


class HalfYearForm(FlaskForm):
    """HR's narrative of a half-year report (reports.half_year); `action` is the button pressed:
    save the narrative, or publish the report (its figures are frozen)."""

    narrative = TextAreaField(_l("Narrative (shown at the top of the report)"), validators=[
        Length(max=NARRATIVE_MAX, message=_l("Write at most %(max)d characters.")), MultiLineText()])
    action = StringField(_l("Action"), default="save")  # the button pressed: one of HALF_YEAR_ACTIONS

    def validate_action(self, field: Field) -> None:
        if field.data not in HALF_YEAR_ACTIONS:
            raise ValidationError(_l("Not one of this page's buttons."))

    @property
    def is_publish(self) -> bool:
        return self.action.data == "publish"
