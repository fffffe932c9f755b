"""Checking a file for an e-learning page by its content: an image (PNG, JPEG, GIF), a video (MP4)
or a PDF handout. The name is the one pages use (media/NAME): plain, with the extension of what
the bytes are. SVG and HTML are refused: they can carry script."""
from __future__ import annotations

from dataclasses import dataclass

from app.catalog.module_files import is_media_name
from app.core.file_kinds import FileRefused, check_content
from app.web.locale import gettext as _

ACCEPTED = ("png", "jpeg", "gif", "mp4", "pdf")


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


def check_media(name: str, data: bytes, max_bytes: int) -> CheckedMedia:
    if not is_media_name(name):
        raise MediaError(_("The name %(name)s is not allowed: use letters, digits, '-', '_' and '.', such as "
                           "figure-1.png.", name=name[:80] or "-"))
    try:
        content_type = check_content(name, data, max_bytes, ACCEPTED,
                                     _("%(name)s is not a PNG, JPEG or GIF image, an MP4 video or a PDF.", name=name))
    except FileRefused as refused:
        raise MediaError(str(refused)) from None
    return CheckedMedia(name, content_type, data)
