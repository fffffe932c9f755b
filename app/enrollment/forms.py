from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from app.core.text_safety import MultiLineText, SingleLineText


class EnrolForm(FlaskForm):
    employee_number = StringField(_l("On behalf of (employee number)"),
                                  validators=[Optional(), Length(max=32), SingleLineText()])
    override_rules = BooleanField(_l("Override the window, grade and prerequisite rules (HR)"))


class CancelEnrolmentForm(FlaskForm):
    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=300), SingleLineText()])


class DecisionForm(FlaskForm):
    action = SelectField(_l("Decision"), choices=[],
                         validate_choice=True)
    reason = StringField(_l("Reason for declining"), validators=[Optional(), Length(max=300), SingleLineText()])

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.action.choices = [SelectChoice("approve", str(_l("Approve"))), SelectChoice("decline", str(_l("Decline")))]


class BulkEnrolForm(FlaskForm):
    grade = SelectField(_l("Everyone of grade"), choices=[], validate_choice=False)
    unit = SelectField(_l("In unit (and below)"), choices=[], validate_choice=False)
    numbers = TextAreaField(_l("Or these employee numbers (one per line)"), validators=[Optional(), Length(max=20000), MultiLineText()])
    override_rules = BooleanField(_l("Override the window, grade and prerequisite rules"))
