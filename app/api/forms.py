"""The account page's form for a new personal access token."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.api.tokens import SCOPES
from app.web.locale import lazy_gettext as _l

SCOPE_LABELS = {"read": _l("see the catalog and your enrolments"), "enrol": _l("enrol yourself and cancel")}


class NewTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the token a name.")), Length(max=80)])
    scopes = SelectMultipleField(_l("Scopes"), choices=[SelectChoice(scope, SCOPE_LABELS[scope]) for scope in SCOPES],
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                 validators=[DataRequired(message=_l("Choose at least one scope."))])
    expires_on = DateField(_l("Valid through"), validators=[DataRequired(message=_l("Choose an expiry date."))])
