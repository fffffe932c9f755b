"""Translations (Japanese by default, English available), dates in Asia/Tokyo, fiscal labels."""
from __future__ import annotations

from datetime import date, datetime

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, get_locale, gettext
from flask_login import current_user
from sqlalchemy import inspect

from app.core.clock import to_tokyo
from app.core.fiscal import FiscalHalf, FiscalYear

babel = Babel()


_WITHOUT_DATABASE = "_locale_without_database"  # on g: pick the language from the request alone


def choose_locale_without_database() -> None:
    """From now on in this request, the language comes from the request alone: the signed-in
    user is not loaded for it. Error pages call this, so they render while the database is down."""
    g.setdefault(_WITHOUT_DATABASE, True)


def select_locale() -> str:
    """The user's own setting, else the session's choice (signing in copies the user's setting
    there), else the browser's Accept-Language, else Japanese."""
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and scheduler jobs: the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if g.get(_WITHOUT_DATABASE):
        own = _loaded_user_locale()
    else:
        own = current_user.locale if current_user and current_user.is_authenticated else None
    if isinstance(own, str) and own in supported:
        return own
    chosen = session.get("locale")
    if isinstance(chosen, str) and chosen in supported:
        return chosen
    best = request.accept_languages.best_match(supported)
    if best:
        return best
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _loaded_user_locale() -> str | None:
    """The signed-in user's setting if the user is already loaded in this request and the value
    is in memory; never a query (after a rollback every attribute would need one)."""
    user = g.get("_login_user")  # where Flask-Login keeps the user it loaded for this request
    state = inspect(user, raiseerr=False) if user is not None else None
    if state is None:
        return None
    return state.dict.get("locale")


def is_japanese() -> bool:
    return str(get_locale()) == "ja"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_tokyo(value).date()
    if is_japanese():
        weekday = "月火水木金土日"[value.weekday()]
        return f"{value.year}年{value.month}月{value.day}日({weekday})"
    return value.strftime("%a %d %b %Y")


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = to_tokyo(value)
    return f"{format_date(local)} {local:%H:%M}"


def format_time(value: datetime | None) -> str:
    return "" if value is None else f"{to_tokyo(value):%H:%M}"


def fiscal_year_label(value: FiscalYear | int) -> str:
    fy = value if isinstance(value, FiscalYear) else FiscalYear(int(value))
    if is_japanese():
        return f"{fy.reiwa_label()}（{fy.year}年度）"
    return gettext("FY%(year)s (Reiwa %(reiwa)s)", year=fy.year, reiwa=fy.reiwa)


def fiscal_half_label(value: FiscalHalf) -> str:
    if is_japanese():
        return f"{fiscal_year_label(value.fiscal_year)} {value.japanese_label()}"
    part = gettext("first half") if value.half == 1 else gettext("second half")
    return f"{fiscal_year_label(value.fiscal_year)} {part}"


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["time"] = format_time
    app.jinja_env.filters["fiscal_year"] = fiscal_year_label
    app.jinja_env.filters["fiscal_half"] = fiscal_half_label
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
