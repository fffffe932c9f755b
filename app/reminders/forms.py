from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.core.text_safety import MultiLineText, SingleLineText


class TemplateForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(message=_l("Enter a subject.")), Length(max=300),
                                                     SingleLineText()])
    body = TextAreaField(_l("Body"), validators=[DataRequired(message=_l("Enter the body.")), Length(max=10000),
                                                 MultiLineText()])


class OffsetsForm(FlaskForm):
    offsets = StringField(_l("Reminder days before a session (business days)"),
                          validators=[Length(max=40), SingleLineText()])
