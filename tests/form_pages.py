"""Reading a page's form errors as a person sees them: the message next to each field."""
from __future__ import annotations

import html
import re

_FIELD_ERROR = re.compile(r'<p class="field-error" id="([^"]+)-error">(.*?)</p>', re.S)
CONTROL = "\x1b"  # ESC
CONTROL_SAID = "制御文字は使えません（U+001B が含まれています）"
BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
BIDI_SAID = "文字の向きを変える制御文字は使えません（U+202E が含まれています）"


def field_errors(page: str) -> dict[str, str]:
    """The errors shown next to fields, by the field's element id."""
    return {field_id: html.unescape(text).strip() for field_id, text in _FIELD_ERROR.findall(page)}
