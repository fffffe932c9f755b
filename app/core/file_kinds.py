"""What an uploaded file is, judged by its bytes and not its name, and the checks every upload
shares: a size limit, not empty, one of the kinds the place accepts, and an extension that agrees
with the content. Each place keeps its own rules for names (app/cohorts/uploads.py,
app/elearning/media.py). SVG and HTML are never a kind: they can carry script."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Collection

from flask_babel import gettext as _

# kind -> (the content type it is served as, the extensions a name of it may have)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", (".pdf",)),
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "gif": ("image/gif", (".gif",)),
    "mp4": ("video/mp4", (".mp4",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", (".pptx",)),
    "ole": ("application/x-ole-storage", (".doc", ".xls", ".ppt")),  # legacy Office
}


class FileRefused(ValueError):
    """Why a file was refused, naming it, fit to show."""


def detect(data: bytes) -> str | None:
    """The kind of the bytes (a key of KINDS), or None for anything else."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 12 and data[4:8] == b"ftyp":  # an ISO base media file: MP4
        return "mp4"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if data.startswith(b"PK\x03\x04"):
        return _office_open_xml(data)
    return None


def _office_open_xml(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        return None
    if "[Content_Types].xml" not in names:
        return None
    for folder, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
        if any(name.startswith(folder) for name in names):
            return kind
    return None


def check_content(name: str, data: bytes, max_bytes: int, accepted: Collection[str], not_accepted: str) -> str:
    """The content type of a file the place accepts, else FileRefused (`not_accepted` says what the
    place takes)."""
    if len(data) > max_bytes:
        raise FileRefused(_("%(name)s is larger than %(mb)s MB.", name=name, mb=max_bytes // (1024 * 1024)))
    if not data:
        raise FileRefused(_("%(name)s is empty.", name=name))
    kind = detect(data)
    if kind is None or kind not in accepted:
        raise FileRefused(not_accepted)
    content_type, extensions = KINDS[kind]
    if not name.lower().endswith(extensions):
        raise FileRefused(_("%(name)s does not match its content (it is a %(kind)s file).", name=name,
                            kind=kind.upper() if kind != "ole" else "Office"))
    return content_type
