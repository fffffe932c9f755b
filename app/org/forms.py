from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, HiddenField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.org.models import RoleName
from app.web.confirmations import ConfirmMixin
from app.web.locale import gettext as _
from app.web.locale import lazy_gettext as _l


class StaffImportForm(FlaskForm):
    file = FileField(
        _l("Staff list (CSV, UTF-8 or Shift_JIS)"),
        validators=[FileRequired(message=_l("Choose a CSV file.")),
                    FileAllowed(["csv", "txt"], message=_l("The file must be a .csv file."))],
    )
    as_of = DateField(_l("Transfers take effect on"), validators=[Optional()])


class StaffImportApplyForm(FlaskForm):
    """Apply a previewed file. Its fields are prefixed ("apply-as_of"): the upload form with its own
    date is on the same page. An empty date means today in Japan, like the upload form's."""

    token = HiddenField(validators=[DataRequired()])
    as_of = DateField(_l("Transfers take effect on"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "apply")
        super().__init__(*args, **kwargs)


class TemporaryPasswordForm(FlaskForm):
    confirm = BooleanField(_l("I will hand this password to the person in a safe way"),
                           validators=[DataRequired(message=_l("Please confirm."))])


def role_label(role: RoleName) -> str:
    return {
        RoleName.HR: _("HR (training staff)"),
        RoleName.INSTRUCTOR: _("Instructor"),
        RoleName.MENTOR: _("Mentor"),
        RoleName.ADMIN: _("Administrator"),
    }[role]


class RolesForm(ConfirmMixin, FlaskForm):
    """The roles of one account (org.update_roles): the first submit previews what is granted and
    removed, the second carries that preview's `fingerprint`."""

    roles = SelectMultipleField(
        _l("Roles"), choices=[], option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False),
        validate_choice=True,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.roles.choices = [SelectChoice(role.value, role_label(role)) for role in RoleName]


class TransferForm(ConfirmMixin, FlaskForm):
    """Move someone to another division (異動), on the employee's page (HR); previewed first (whose
    pending requests move to whom), then confirmed with the preview's `fingerprint`."""

    unit = SelectField(_l("New division"), choices=[], validators=[DataRequired(message=_l("Choose a division."))])
    as_of = DateField(_l("Transfers take effect on"), validators=[Optional()])


class UnitHeadForm(ConfirmMixin, FlaskForm):
    """Change a unit's head, on the organisation page (HR). An empty number leaves the post vacant.
    Previewed first (whose pending requests move to whom), then confirmed with its `fingerprint`."""

    unit = SelectField(_l("Unit"), choices=[], validators=[DataRequired(message=_l("Choose a unit."))])
    employee_number = StringField(_l("Employee number of the new head (empty: vacant)"),
                                  validators=[Optional(), Length(max=32)],
                                  render_kw={"data-picker": "people"})  # app/static/picker.js
