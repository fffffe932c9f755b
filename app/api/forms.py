"""The account page's form for a new personal access token."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.api.clients import CLIENT_SCOPES
from app.api.tokens import SCOPES
from app.core.text_safety import SingleLineText
from app.permissions import SYSTEM_ROLE_PERMISSIONS
from app.web.locale import lazy_gettext as _l

SCOPE_LABELS = {"read": _l("see what you may see here (the catalog, your enrolments, reports you may read)"),
                "enrol": _l("enrol yourself and cancel"), "approve": _l("approve and decline enrolment requests"),
                "attend": _l("record attendance"), "staff": _l("update staff and placements")}


class NewTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the token a name.")), Length(max=80)])
    scopes = SelectMultipleField(_l("Scopes"), choices=[SelectChoice(scope, SCOPE_LABELS[scope]) for scope in SCOPES],
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                 validators=[DataRequired(message=_l("Choose at least one scope."))])
    expires_on = DateField(_l("Valid through"), validators=[DataRequired(message=_l("Choose an expiry date."))])


# A system account is no person: "your enrolments" would mislead here.
CLIENT_SCOPE_LABELS = {"read": _l("read what the account's role may see"), "staff": SCOPE_LABELS["staff"]}

SYSTEM_ROLE_LABELS = {"personnel_system": _l("Personnel system: staff and placements in, completions out"),
                      "hr": _l("HR: what HR staff may do")}


class NewClientForm(FlaskForm):
    name = StringField(_l("Name of the system account"),
                       validators=[DataRequired(message=_l("Give the system account a name.")), Length(max=80),
                                   SingleLineText()])
    role = SelectField(_l("Role"), choices=[SelectChoice(role, SYSTEM_ROLE_LABELS[role])
                                            for role in SYSTEM_ROLE_PERMISSIONS])
    scopes = SelectMultipleField(_l("Scopes"), choices=[SelectChoice(scope, CLIENT_SCOPE_LABELS[scope])
                                                        for scope in CLIENT_SCOPES],
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                 validators=[DataRequired(message=_l("Choose at least one scope."))])
