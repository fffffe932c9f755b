"""The e-learning forms: HR's upload of a file for a course's pages. (Reading a page and starting a
module are buttons: a POST with the CSRF token and nothing else to check.)"""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import Length, Optional

from app.core.text_safety import SingleLineText
from app.web.locale import lazy_gettext as _l


class MediaUploadForm(FlaskForm):
    file = FileField(_l("File (PNG, JPEG or GIF image, MP4 video, PDF)"),
                     validators=[FileRequired(message=_l("Choose a file."))])
    name = StringField(_l("Name the pages use (media/NAME)"),
                       validators=[Optional(), Length(max=100), SingleLineText()],
                       description=_l("Leave empty to use the file's own name."))
