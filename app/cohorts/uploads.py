"""Checking uploaded files by their content, not only their name.

Accepted: PDF, PNG, JPEG, GIF, Office Open XML (docx, xlsx, pptx) and legacy Office (doc, xls, ppt).
The extension must agree with what the bytes are, the size is limited, and a file name that tries
to leave its folder ("../", "/", "\\") is refused outright. Stored files get random names."""
from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass

from app.web.locale import gettext as _

KINDS = {
    "pdf": ("application/pdf", (".pdf",)),
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "gif": ("image/gif", (".gif",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", (".pptx",)),
    "ole": ("application/x-ole-storage", (".doc", ".xls", ".ppt")),
}


class UploadError(Exception):
    """Why a file was refused, naming the file."""


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    data: bytes


def detect(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in names:
            if any(n.startswith("word/") for n in names):
                return "docx"
            if any(n.startswith("xl/") for n in names):
                return "xlsx"
            if any(n.startswith("ppt/") for n in names):
                return "pptx"
    return None


def check_upload(filename: str, data: bytes, max_bytes: int) -> CheckedFile:
    raw_name = filename or ""
    if (not raw_name or "/" in raw_name or "\\" in raw_name or ".." in raw_name or raw_name.startswith(".")
            or any(unicodedata.category(ch).startswith("C") for ch in raw_name)):
        raise UploadError(_("The file name %(name)s is not allowed: use a plain name without folders.",
                            name=raw_name[:80] or "-"))
    name = unicodedata.normalize("NFC", raw_name)[:200]
    if len(data) > max_bytes:
        raise UploadError(_("%(name)s is larger than %(mb)s MB.", name=name, mb=max_bytes // (1024 * 1024)))
    if not data:
        raise UploadError(_("%(name)s is empty.", name=name))
    kind = detect(data)
    if kind is None:
        raise UploadError(_("%(name)s is not a PDF, Office document or image.", name=name))
    content_type, extensions = KINDS[kind]
    if not name.lower().endswith(extensions):
        raise UploadError(_("%(name)s does not match its content (it is a %(kind)s file).", name=name,
                            kind=kind.upper() if kind != "ole" else "Office"))
    return CheckedFile(name, content_type, data)
