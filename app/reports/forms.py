"""The forms of HR's report pages: the planned participants per course, and the half-year report's
narrative. Field names are those the pages have always posted (`plan-<course id>` for the year,
now `plan-<course id>-1` / `-2` for 上期 / 下期, `narrative`, `action`, and `reason` for a
correction). Numbers are read by app/web/ids.parse_int (never int(), which reads "٣" as 3); text is
checked here (app/core/text_safety.py).

The plans page has three fields per published course, so its form is built for them: `plans_form`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from flask_wtf import FlaskForm
from wtforms import Field, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from app.catalog.models import Course
from app.core.text_safety import MultiLineText, SingleLineText
from app.web.confirmations import ConfirmMixin
from app.web.fields import WholeNumberField
from app.web.locale import lazy_gettext as _l

PLANNED_MAX = 100_000  # participants of a course in a year: far more than the prefecture has staff
NARRATIVE_MAX = 20_000  # characters of the half-year report's narrative
REASON_MAX = 500  # characters of a correction's reason (shown on the public page)
HALF_YEAR_ACTIONS = ("save", "publish", "correct")
PLAN_HALVES = (0, 1, 2)  # the year, 上期, 下期 (CoursePlan.half)


def plan_field_name(course_id: int, half: int) -> str:
    return f"plan-{course_id}" if half == 0 else f"plan-{course_id}-{half}"


class PlansForm(FlaskForm):
    """HR's planned participants of a fiscal year and of each half (reports.plans): `plan-<course
    id>` for the year, `plan-<course id>-1` / `-2` for the halves, per course the page lists. An
    empty year field leaves that course's annual plan as it is; a half field sent empty removes
    the half's plan (that half is then reported as having none)."""

    courses: Sequence[Course] = ()

    def plan_field(self, course: Course, half: int = 0) -> WholeNumberField:
        return cast(WholeNumberField, self[plan_field_name(course.id, half)])

    def planned(self) -> dict[tuple[int, int], int]:
        """(course id, half) → the number typed, for the fields that hold one."""
        numbers = {(course.id, half): self.plan_field(course, half).number
                   for course in self.courses for half in PLAN_HALVES}
        return {key: number for key, number in numbers.items() if number is not None}

    def cleared(self) -> set[tuple[int, int]]:
        """(course id, half) of the half fields that were sent, and sent empty."""
        return {(course.id, half) for course in self.courses for half in PLAN_HALVES[1:]
                if self.plan_field(course, half).raw_data == [""]}

    def refused_codes(self) -> list[str]:
        """The codes of the courses with a refused number, in the page's order."""
        return [course.code for course in self.courses
                if any(self.plan_field(course, half).errors for half in PLAN_HALVES)]


def plans_form(courses: Sequence[Course], locale: str, planned: Mapping[tuple[int, int], int],
               **kwargs: Any) -> PlansForm:
    """A PlansForm with three fields per course (labelled with its title and the period), showing
    its current plans."""

    class CoursePlansForm(PlansForm):
        pass

    CoursePlansForm.courses = tuple(courses)
    message = _l("Enter a whole number from 0 to %(max)s.", max=PLANNED_MAX)
    for course in courses:
        for half in PLAN_HALVES:
            current = planned.get((course.id, half))
            label = course.title(locale) if half == 0 else _l(
                "%(course)s: %(half)s", course=course.title(locale),
                half=_l("First half (Apr–Sep)") if half == 1 else _l("Second half (Oct–Mar)"))
            setattr(CoursePlansForm, plan_field_name(course.id, half), WholeNumberField(
                label, message=message, maximum=PLANNED_MAX, default=str(current) if current is not None else ""))
    return CoursePlansForm(**kwargs)


class HalfYearForm(ConfirmMixin, FlaskForm):
    """HR's narrative of a half-year report (reports.half_year); `action` is the button pressed:
    save the narrative, publish the report (its figures are frozen), or publish a correction of a
    published report, which needs a `reason` (shown on the public page with the correction).
    Publishing and correcting take two submits: the first shows what will be published, the
    second carries that preview's `fingerprint` (app/web/confirmations.py)."""

    narrative = TextAreaField(_l("Narrative (shown at the top of the report)"), validators=[
        Length(max=NARRATIVE_MAX, message=_l("Write at most %(max)d characters.")), MultiLineText()])
    reason = StringField(_l("What was corrected, and why (shown on the public page)"), validators=[
        Length(max=REASON_MAX, message=_l("Write at most %(max)d characters.")), SingleLineText()])
    action = StringField(_l("Action"), default="save")  # the button pressed: one of HALF_YEAR_ACTIONS
    # the version the page showed (a correction corrects that one, not one published meanwhile)
    version = WholeNumberField(_l("Version"), message=_l("Not a version of this report."), minimum=1, maximum=1000)

    def validate_action(self, field: Field) -> None:
        if field.data not in HALF_YEAR_ACTIONS:
            raise ValidationError(_l("Not one of this page's buttons."))

    def validate_version(self, field: Field) -> None:
        if self.action.data == "correct" and self.version.number is None:
            raise ValidationError(_l("Not a version of this report."))

    def validate_reason(self, field: Field) -> None:
        if self.action.data == "correct" and not (field.data or "").strip():
            raise ValidationError(_l("Say what was corrected and why: readers of the report see it."))

    @property
    def is_publish(self) -> bool:
        return self.action.data == "publish"
