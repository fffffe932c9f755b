"""The one rule for which characters people's text may hold: names, titles, subjects, bodies.

Refused everywhere:
  - C0 and C1 control characters (U+0000–U+001F, U+007F–U+009F: NUL, ESC, NEL …);
  - the Unicode bidirectional controls that reorder what a reader sees ("Trojan Source",
    CVE-2021-42574): the embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069 and the
    marks U+200E, U+200F, U+061C;
  - lone surrogates (U+D800–U+DFFF), which cannot be written as UTF-8 at all.
A single-line value (a name, a title, a subject, a code) also refuses the line and paragraph
separators U+2028 and U+2029. A multi-line value (a Markdown body, a statement) allows the line
ends a browser sends (CR, LF) and TAB, and nothing else from the list above.

Forms use `SingleLineText()` / `MultiLineText()`; imports and services call `check_single_line`
/ `check_multi_line` (or `find_unsafe`); app/core/mail.py's `header_value` applies the single-line rule
to every header it writes.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from wtforms import Field
from wtforms.validators import ValidationError

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_SEPARATORS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # all that str.splitlines() splits on

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE_SINGLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]")
_UNSAFE_MULTI_LINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")


class UnsafeText(ValueError):
    """A value holds a character the rule refuses; `describe()` says so in the user's language.

    `str()` of the error names the character by code point only, so a log line never carries it.
    """

    def __init__(self, character: str, position: int, *, multiline: bool) -> None:
        self.character, self.position, self.multiline = character, position, multiline
        self.code = f"U+{ord(character):04X}"
        super().__init__(f"unsafe character {self.code} {self.kind} at position {position}")

    @property
    def kind(self) -> str:
        if self.character in BIDI_CONTROLS:
            return "bidirectional control"
        if self.character in LINE_SEPARATORS and not self.multiline:
            return "line break"
        if "\ud800" <= self.character <= "\udfff":
            return "lone surrogate"
        return "control character"

    def describe(self) -> str:
        kind = self.kind
        if kind == "bidirectional control":
            return _("must not contain characters that reverse the direction of text (found %(code)s)",
                     code=self.code)
        if kind == "line break":
            return _("must be a single line (found a line break, %(code)s)", code=self.code)
        if kind == "lone surrogate":
            return _("contains an invalid character (%(code)s)", code=self.code)
        return _("must not contain control characters (found %(code)s)", code=self.code)


def find_unsafe(text: str, *, multiline: bool = False) -> UnsafeText | None:
    """The first refused character of `text` as an error to raise or report, or None."""
    match = (_UNSAFE_MULTI_LINE if multiline else _UNSAFE_SINGLE_LINE).search(text)
    if match is None:
        return None
    return UnsafeText(match.group(), match.start(), multiline=multiline)


def check_single_line(text: str) -> str:
    """Return `text` unchanged, or raise UnsafeText (a ValueError)."""
    problem = find_unsafe(text)
    if problem is not None:
        raise problem
    return text


def check_multi_line(text: str) -> str:
    problem = find_unsafe(text, multiline=True)
    if problem is not None:
        raise problem
    return text


class SingleLineText:
    """WTForms validator: a field error (never a 500) for control characters, line breaks, NUL and
    bidirectional controls. Empty and missing values pass: combine with DataRequired/Optional."""

    multiline = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __call__(self, form: object, field: Field) -> None:
        data = field.data
        if not isinstance(data, str):
            return
        problem = find_unsafe(data, multiline=self.multiline)
        if problem is not None:
            raise ValidationError(self.message or problem.describe())


class MultiLineText(SingleLineText):
    """Like SingleLineText, but line breaks (CR, LF) and TAB are allowed."""

    multiline = True
