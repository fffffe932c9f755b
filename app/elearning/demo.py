"""The demo's e-learning files: the images the pages of courses/ show, from courses/media/<CODE>/
(as HR would upload them on each course's "Files for the pages" page). Idempotent."""
from __future__ import annotations

from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.catalog.models import Course
from app.core.db import db_session
from app.elearning.media import check_media
from app.elearning.services import store_media

MEDIA_DIR = Path(__file__).resolve().parent.parent.parent / "courses" / "media"


def load_demo_media(directory: Path = MEDIA_DIR) -> int:
    """Store each course's files (unchanged ones are left alone); returns how many files were read."""
    count = 0
    upload_dir = Path(current_app.config["UPLOAD_DIR"])
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []:
        course = db_session.scalar(select(Course).where(Course.code == folder.name))
        if course is None:
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            checked = check_media(path.name, path.read_bytes(), current_app.config["ELEARNING_MEDIA_MAX_BYTES"])
            store_media(None, course, checked, upload_dir)
            count += 1
    db_session.flush()
    return count
