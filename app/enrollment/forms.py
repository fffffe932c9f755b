from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from app.core.text_safety import MultiLineText, SingleLineText
from app.web.confirmations import ConfirmMixin
from app.web.ids import parse_ids
from app.web.locale import lazy_gettext as _l


class NextPageMixin:
    """`next`: the page to go back to. Any value is accepted here; the view sends it through
    app/web/redirects.safe_next, which only follows a path inside this site."""

    next_page = HiddenField(name="next")


class EnrolForm(NextPageMixin, FlaskForm):
    employee_number = StringField(_l("On behalf of (employee number)"),
                                  validators=[Optional(), Length(max=32), SingleLineText()])
    override_rules = BooleanField(_l("Override the window, grade and prerequisite rules (HR)"))


class CancelEnrolmentForm(FlaskForm):
    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=300), SingleLineText()])


class DecisionForm(NextPageMixin, FlaskForm):
    """Approve or decline the ticked requests (the approvals page), or one request (its page).
    Ids that are not ids are left out; the view loads and authorises the rest."""

    action = SelectField(_l("Decision"), choices=[],
                         validate_choice=True)
    reason = StringField(_l("Reason for declining"), validators=[Optional(), Length(max=300), SingleLineText()])
    enrolment_ids = SelectMultipleField(name="enrolment_id", choices=[], validate_choice=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.action.choices = [SelectChoice("approve", str(_l("Approve"))), SelectChoice("decline", str(_l("Decline")))]

    def chosen_ids(self) -> list[int]:
        return parse_ids(self.enrolment_ids.data or [])


class BulkEnrolForm(ConfirmMixin, FlaskForm):
    """HR enrols many people at once: a grade and/or a unit, or pasted numbers. The first submit
    previews who would be enrolled, waitlisted or told; the confirm carries its `fingerprint`."""

    grade = SelectField(_l("Everyone of grade"), choices=[], validate_choice=False)
    unit = SelectField(_l("In unit (and below)"), choices=[], validate_choice=False)
    numbers = TextAreaField(_l("Or these employee numbers (one per line)"),
                            validators=[Optional(), Length(max=20000), MultiLineText()])
    override_rules = BooleanField(_l("Override the window, grade and prerequisite rules"))
