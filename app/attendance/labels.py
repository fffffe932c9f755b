from __future__ import annotations

from flask import Flask

from app.web.locale import lazy_gettext as _l

STATUS_NAMES = {
    "present": _l("Present"),
    "late": _l("Late"),
    "left_early": _l("Left early"),
    "absent": _l("Absent"),
    "excused": _l("Excused"),
}


def register(app: Flask) -> None:
    app.jinja_env.globals["STATUS_NAMES"] = STATUS_NAMES
