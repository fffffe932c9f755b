"""Checking uploaded files by their content, not only their name.

Accepted: PDF, PNG, JPEG, GIF, Office Open XML (docx, xlsx, pptx) and legacy Office (doc, xls, ppt).
The extension must agree with what the bytes are, the size is limited, and a file name that tries
to leave its folder ("../", "/", "\\") is refused outright. Stored files get random names."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from app.core.file_kinds import FileRefused, check_content
from app.web.locale import gettext as _

ACCEPTED = ("pdf", "png", "jpeg", "gif", "docx", "xlsx", "pptx", "ole")


class UploadError(Exception):
    """Why a file was refused, naming the file."""


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    data: bytes


def check_upload(filename: str, data: bytes, max_bytes: int) -> CheckedFile:
    raw_name = filename or ""
    if (not raw_name or "/" in raw_name or "\\" in raw_name or ".." in raw_name or raw_name.startswith(".")
            or any(unicodedata.category(ch).startswith("C") for ch in raw_name)):
        raise UploadError(_("The file name %(name)s is not allowed: use a plain name without folders.",
                            name=raw_name[:80] or "-"))
    name = unicodedata.normalize("NFC", raw_name)[:200]
    try:
        content_type = check_content(name, data, max_bytes, ACCEPTED,
                                     _("%(name)s is not a PDF, Office document or image.", name=name))
    except FileRefused as refused:
        raise UploadError(str(refused)) from None
    return CheckedFile(name, content_type, data)
