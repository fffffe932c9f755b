"""Checking a file for an e-learning page by its content: an image (PNG, JPEG, GIF), a video (MP4)
or a PDF handout. The name is the one pages use (media/NAME): plain, with the extension of what
the bytes are. SVG and HTML are refused: they can carry script."""
from __future__ import annotations

from dataclasses import dataclass

from app.catalog.module_files import is_media_name
from app.cohorts.uploads import detect
from app.web.locale import gettext as _

KINDS = {
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "gif": ("image/gif", (".gif",)),
    "mp4": ("video/mp4", (".mp4",)),
    "pdf": ("application/pdf", (".pdf",)),
}


class MediaError(Exception):
    """Why a file was refused, naming it, fit to show."""


@dataclass(frozen=True)
class CheckedMedia:
    name: str
    content_type: str
    data: bytes

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


def _detect(data: bytes) -> str | None:
    if len(data) >= 12 and data[4:8] == b"ftyp":  # an ISO base media file: MP4
        return "mp4"
    kind = detect(data)
    return kind if kind in KINDS else None


def check_media(name: str, data: bytes, max_bytes: int) -> CheckedMedia:
    if not is_media_name(name):
        raise MediaError(_("The name %(name)s is not allowed: use letters, digits, '-', '_' and '.', such as "
                           "figure-1.png.", name=name[:80] or "-"))
    if len(data) > max_bytes:
        raise MediaError(_("%(name)s is larger than %(mb)s MB.", name=name, mb=max_bytes // (1024 * 1024)))
    if not data:
        raise MediaError(_("%(name)s is empty.", name=name))
    kind = _detect(data)
    if kind is None:
        raise MediaError(_("%(name)s is not a PNG, JPEG or GIF image, an MP4 video or a PDF.", name=name))
    content_type, extensions = KINDS[kind]
    if not name.lower().endswith(extensions):
        raise MediaError(_("%(name)s does not match its content (it is a %(kind)s file).", name=name,
                           kind=kind.upper()))
    return CheckedMedia(name, content_type, data)
