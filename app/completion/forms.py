"""The forms of the completion pages. HR's record of training done elsewhere is read and checked
here (app/core/text_safety.py for the text); whether the person already holds a valid completion
of the course is the service's rule (app/completion/services.record_manual_completion)."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, Field, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, StopValidation, ValidationError

from app.catalog.models import Course
from app.catalog.queries import course_by_code
from app.core.text_safety import MultiLineText, SingleLineText
from app.org.models import Employee
from app.org.queries import employee_by_number
from app.web.locale import lazy_gettext as _l

HOURS_MAX = 9999  # completions.hours is a Numeric(6, 2)
HOURS_MESSAGE = _l("Enter hours from 0 to 9999.")
_HOURS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,10})?")  # no sign, exponent, NaN or Infinity
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


TOO_LONG = _l("Use at most %(max)d characters (this has %(length)d).")


class HoursField(DecimalField):
    """Hours as a person types them: digits with an optional decimal part (full-width digits
    too). An empty or missing value is 0 hours, as the page has always taken it."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip().translate(_FULL_WIDTH) if valuelist else ""
        if not text:
            self.data = Decimal(0)
            return
        if not _HOURS.fullmatch(text):
            raise ValueError(str(HOURS_MESSAGE))  # data stays None
        self.data = Decimal(text)

    def pre_validate(self, form: Any) -> None:
        if self.process_errors:
            raise StopValidation()  # already said: not a number of hours
        data = self.data
        if isinstance(data, Decimal) and data != data.quantize(Decimal("0.01")):
            raise ValidationError(str(_l("Enter hours with at most two decimal places.")))


class CompletionRecordForm(FlaskForm):
    """Record outside or offline training (completion.record). The employee number and the
    course code must name a row: `employee` and `course` are those rows once the form is valid."""

    employee_number = StringField(_l("Employee number"), filters=[_strip],
                                  validators=[Length(max=32, message=TOO_LONG), SingleLineText()],
                                  render_kw={"data-picker": "people"})  # app/static/picker.js
    course_code = StringField(_l("Course code"), filters=[_strip],
                              validators=[Length(max=40, message=TOO_LONG), SingleLineText()],
                              render_kw={"data-picker": "courses"})
    completed_on = DateField(_l("Completed on"), invalid_value_message=_l("Enter a date."),
                             validators=[DataRequired(message=_l("Enter a date."))])
    hours = HoursField(_l("Hours"), places=None, render_kw={"step": "0.01"},
                       validators=[NumberRange(min=0, max=HOURS_MAX, message=HOURS_MESSAGE)])
    evidence_note = TextAreaField(_l("Evidence"), filters=[_strip], render_kw={"rows": 3}, validators=[
        DataRequired(message=_l("Describe the evidence (certificate, organiser, document number).")),
        Length(max=5000, message=TOO_LONG), MultiLineText()])

    employee: Employee | None = None
    course: Course | None = None

    def validate_employee_number(self, field: Field) -> None:
        if field.errors:
            return
        self.employee = employee_by_number(field.data or "")
        if self.employee is None:
            raise ValidationError(str(_l("No employee with this number.")))

    def validate_course_code(self, field: Field) -> None:
        if field.errors:
            return
        self.course = course_by_code(field.data or "")
        if self.course is None:
            raise ValidationError(str(_l("No course with this code.")))
