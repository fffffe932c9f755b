"""Translations (Japanese by default, English available), dates in Asia/Tokyo, fiscal labels."""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.support import NullTranslations
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, LazyString, get_locale, get_translations
from flask_login import current_user
from sqlalchemy import inspect

from app.core.clock import to_tokyo
from app.core.fiscal import FiscalHalf, FiscalYear, era_date

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


_LANGUAGE = "manabi_language"  # on Flask-Babel's request namespace: (its Locale object, the code, the catalogue)


def _language() -> tuple[Locale | None, str, NullTranslations]:
    """This request's language and catalogue, resolved once per locale.

    Flask-Babel resolves both on every call (~45 µs through its context lookups; a catalog page
    makes ~150 calls). Here the locale Flask-Babel holds is read directly, and the cache is kept
    beside it, keyed by that object: `force_locale` (a job in the requester's language) sets
    another one, so a forced block gets its own catalogue and the request's comes back after it.
    """
    babel_context = g.get("_flask_babel")
    locale = getattr(babel_context, "babel_locale", None)
    cached: tuple[Locale | None, str, Any] | None = getattr(babel_context, _LANGUAGE, None)
    if cached is not None and locale is not None and cached[0] is locale:
        return cached
    if locale is None:
        locale = get_locale()
        babel_context = g.get("_flask_babel")  # made by get_locale() if it was missing
    cached = (locale, str(locale) if locale is not None else current_app.config["BABEL_DEFAULT_LOCALE"],
              get_translations())
    if babel_context is not None:
        setattr(babel_context, _LANGUAGE, cached)
    return cached


def current_language() -> str:
    """"ja" or "en": the language this request (or forced block) renders in."""
    return _language()[1] if g else str(current_app.config["BABEL_DEFAULT_LOCALE"])


def translate(message: str) -> str:
    return _language()[2].ugettext(message) if g else message


def gettext(message: str, /, **variables: Any) -> str:
    """Flask-Babel's `gettext`, through the catalogue resolved once (import it as `_`)."""
    translated = translate(message)
    return translated % variables if variables else translated


def lazy_gettext(message: str, /, **variables: Any) -> LazyString:
    """Flask-Babel's `lazy_gettext` (import it as `_l`): translated when shown, in the shower's language."""
    return LazyString(gettext, message, **variables)


def translate_plural(singular: str, plural: str, number: int) -> str:
    return _language()[2].ungettext(singular, plural, number)


def is_japanese() -> bool:
    return current_language() == "ja"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_tokyo(value).date()
    return _date_text(value, is_japanese())


def format_datetime(value: datetime | None) -> str:
    return "" if value is None else _datetime_text(value, is_japanese())


# Lists show the same few hundred session times on every page: each text is made once per worker.
@lru_cache(maxsize=4096)
def _date_text(value: date, japanese: bool) -> str:
    if japanese:
        weekday = "月火水木金土日"[value.weekday()]
        return f"{value.year}年{value.month}月{value.day}日({weekday})"
    return value.strftime("%a %d %b %Y")


@lru_cache(maxsize=4096)
def _datetime_text(value: datetime, japanese: bool) -> str:
    local = to_tokyo(value)
    return f"{_date_text(local.date(), japanese)} {local:%H:%M}"


def format_era_date(value: date | datetime | None) -> str:
    """和暦 with the Western year beside it in Japanese (令和8年11月30日（2026年）); the plain date in English.
    For documents (certificates, public reports) where the prefecture writes dates in its own calendar."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_tokyo(value).date()
    if is_japanese():
        return f"{era_date(value)}（{value.year}年）"
    return value.strftime("%d %B %Y")


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
    app.jinja_env.filters["era_date"] = format_era_date
    app.jinja_env.filters["fiscal_year"] = fiscal_year_label
    app.jinja_env.filters["fiscal_half"] = fiscal_half_label
    app.jinja_env.globals["current_locale"] = current_language
    # Templates translate through the request's catalogue resolved once (see `_language`), with the
    # same newstyle semantics Flask-Babel installs (autoescaped, %-formatted with escaped values).
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        gettext=translate, ngettext=translate_plural, newstyle=True,
        pgettext=lambda context, message: _language()[2].upgettext(context, message),
        npgettext=lambda context, singular, plural, number: _language()[2].unpgettext(context, singular, plural,
                                                                                     number))
