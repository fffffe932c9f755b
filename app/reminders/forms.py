"""The forms of the notification pages: a person's opt-outs, HR's settings of each kind, and HR's
wording of a kind. Field names are those the pages have always posted (`kind` and `enabled`, once
per ticked box; `action`, the button pressed). A kind is one of app/reminders/kinds.py's KINDS; a
value that names none is a field error, never ignored. Text is checked here (app/core/text_safety.py).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, SelectChoice, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from app.core.text_safety import MultiLineText, SingleLineText
from app.reminders.kinds import Kind
from app.reminders.rendering import placeholders_in
from app.web.ids import parse_int
from app.web.locale import lazy_gettext as _l

OFFSET_MAX = 30  # business days before a session
TEMPLATE_ACTIONS = ("save", "preview", "reset")


def _kind_choices(kinds: Iterable[Kind]) -> list[SelectChoice]:
    return [SelectChoice(k.code, str(k.label)) for k in kinds]


def _check_known(field: SelectMultipleField, message: Any) -> None:
    """Every value sent is one of the field's choices (the boxes the page shows)."""
    known = {choice.value for choice in field.iter_choices()}
    if any(value not in known for value in field.data or []):
        raise ValidationError(str(message))


class PreferencesForm(FlaskForm):
    """A person's optional notifications (reminders.preferences): `kind`, once per ticked box; an
    optional kind left unticked is turned off."""

    kind = SelectMultipleField(_l("Optional notifications (e-mail and in the app)"), choices=[],
                               validate_choice=False)

    def __init__(self, optional: Sequence[Kind], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = _kind_choices(optional)

    def validate_kind(self, field: SelectMultipleField) -> None:
        _check_known(field, _l("Choose only from the notifications listed."))

    @property
    def wanted(self) -> set[str]:
        return set(self.kind.data or [])


class SettingsForm(FlaskForm):
    """HR's settings of the kinds (reminders.settings): `enabled`, once per kind that is sent, and
    the business days before a session at which its reminders go out."""

    enabled = SelectMultipleField(_l("Kinds that are sent"), choices=[], validate_choice=False)
    offsets = StringField(_l("Reminder days before a session (business days)"),
                          validators=[Length(max=40), SingleLineText()])

    def __init__(self, kinds: Sequence[Kind], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enabled.choices = _kind_choices(kinds)

    def validate_enabled(self, field: SelectMultipleField) -> None:
        _check_known(field, _l("Choose only from the kinds listed."))

    def validate_offsets(self, field: StringField) -> None:
        if not field.errors and self.offset_days is None:
            raise ValidationError(_l("Write whole numbers of business days from 0 to 30, separated by commas."))

    @property
    def enabled_kinds(self) -> set[str]:
        return set(self.enabled.data or [])

    @property
    def offset_days(self) -> list[int] | None:
        """The offsets as typed ("3, 1", "3、1", "3 1"), or None if one is not a whole number of
        business days from 0 to 30. Empty: no reminders before a session."""
        text = self.offsets.data or ""
        parts = [p for p in text.replace("、", ",").replace(" ", ",").split(",") if p]
        days = [parse_int(p, maximum=OFFSET_MAX) for p in parts]
        return None if None in days else [d for d in days if d is not None]


class TemplateForm(FlaskForm):
    """HR's wording of a kind in a language (reminders.edit_template). `action` is the button
    pressed: preview (nothing is saved), save, or reset (back to the built-in wording)."""

    subject = StringField(_l("Subject"), validators=[DataRequired(message=_l("Enter a subject.")), Length(max=300),
                                                     SingleLineText()])
    body = TextAreaField(_l("Body"), validators=[DataRequired(message=_l("Enter the body.")), Length(max=10000),
                                                 MultiLineText()])
    action = StringField(_l("Action"), default="save")  # the button pressed: one of TEMPLATE_ACTIONS

    def __init__(self, placeholders: Sequence[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.placeholders = tuple(placeholders)

    def validate_action(self, field: Field) -> None:
        if field.data not in TEMPLATE_ACTIONS:
            raise ValidationError(_l("Not one of this page's buttons."))

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' own checks, then the placeholders: only those of the kind, in braces that
        pair up (a lone "{" or "}" is a field error, not a 500)."""
        if not super().validate(extra_validators):
            return False
        used: set[str] = set()
        for field in (self.subject, self.body):
            try:
                used |= placeholders_in(field.data)
            except ValueError:
                field.errors = [*field.errors, _l("Braces must enclose a placeholder, such as {name}.")]
        unknown = used - set(self.placeholders)
        if unknown:
            self.body.errors = [*self.body.errors, _l(
                "Unknown placeholder(s): %(names)s. Use: %(allowed)s",
                names=", ".join("{" + n + "}" for n in sorted(unknown)),
                allowed=", ".join("{" + n + "}" for n in self.placeholders))]
        return not (self.subject.errors or self.body.errors)

    @property
    def is_preview(self) -> bool:
        return self.action.data == "preview"

    @property
    def is_reset(self) -> bool:
        return self.action.data == "reset"
