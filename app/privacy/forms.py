from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from app.core.text_safety import SingleLineText
from app.web.locale import lazy_gettext as _l

FORMATS = ("json", "zip")


class SelfExportForm(FlaskForm):
    """The format comes from the button pressed (JSON, or CSV files in a ZIP)."""

    file_format = StringField(_l("File format"), validators=[DataRequired(), AnyOf(FORMATS)])


def _printable(form: object, field: Field) -> None:
    if isinstance(field.data, str) and not field.data.isprintable():
        raise ValidationError(_l("Use letters, digits and punctuation only."))


class DisclosureForm(FlaskForm):
    reference = StringField(
        _l("Reference number"),
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[DataRequired(message=_l("Enter the reference number of the request.")),
                    Length(max=40, message=_l("At most %(max)d characters.")), SingleLineText(), _printable],
        render_kw={"autocomplete": "off", "maxlength": 40},
    )
