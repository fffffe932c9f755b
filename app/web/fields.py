"""Form fields shared by the domains' forms (WTForms)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wtforms import StringField, ValidationError

from app.web.ids import INT_MAX, parse_int


class WholeNumberField(StringField):
    """A whole number a person types (ASCII or full-width digits), read by app/web/ids.parse_int.
    `data` keeps the text as typed (shown again on an error); `number` is the value, or None when
    the field is empty. An empty value passes (add DataRequired to require one); anything else
    outside minimum .. maximum is a field error with `message`."""

    def __init__(self, label: Any = None, validators: Sequence[Any] | None = None, *, message: Any,
                 minimum: int = 0, maximum: int = INT_MAX, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.minimum, self.maximum, self.message = minimum, maximum, message

    @property
    def number(self) -> int | None:
        return parse_int(self.data, minimum=self.minimum, maximum=self.maximum)

    def pre_validate(self, form: Any) -> None:
        if (self.data or "").strip() and self.number is None:
            raise ValidationError(str(self.message))
