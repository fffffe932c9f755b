from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length


class CheckInForm(FlaskForm):
    code = StringField(_l("Check-in code"), validators=[DataRequired(message=_l("Enter the code on the screen.")),
                                                        Length(max=12)],
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"})


class ParticipantsUploadForm(FlaskForm):
    file = FileField(_l("Participant list from the web-meeting system (CSV)"),
                     validators=[FileRequired(message=_l("Choose a CSV file.")),
                                 FileAllowed(["csv", "txt"], message=_l("The file must be a .csv file."))])


class ParticipantsApplyForm(FlaskForm):
    enrolment_ids = HiddenField(validators=[DataRequired()])
