"""Ids and whole numbers from the outside (URL paths, query strings, form fields), parsed in one
place so that bad input is a 404, an ignored filter or a form error, and never reaches SQL.

Every id column is an INTEGER (4 bytes on PostgreSQL), so an id is 1 .. 2**31 - 1; anything else
cannot name a row. Digits are ASCII (and, in fields people type into, the full-width digits a
Japanese input method writes): `str.isdigit()` also passes "²" (which `int()` refuses: a 500) and
"٣" (which `int()` reads as 3), and an unbounded number overflows SQLite's 64-bit integers or
PostgreSQL's columns (a 500 again).

- Paths: `init_app` replaces Flask's built-in `int` converter with `IdConverter`, so every
  `<int:...>` rule only matches 1 .. ID_MAX; /enrolments/99999999999999999999 is a 404 without
  touching the database (negative or non-numeric values never matched `int`).
- Query strings and forms: `parse_id`, `parse_ids`, `parse_int` give None (or leave a bad value
  out); the view decides what that means on its page (ignore the filter, show a form error, 404).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, Map

ID_MAX = 2**31 - 1  # INTEGER columns: PostgreSQL's int4 (SQLite's are wider; none is above this)
INT_MAX = ID_MAX  # any whole number stored in an INTEGER column
FISCAL_YEAR_MIN, FISCAL_YEAR_MAX = 2000, 2100  # as the forms accept (a date needs a year below 10000)
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII digits; ten is enough for INT_MAX and bounds the work
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def parse_int(value: Any, *, minimum: int = 0, maximum: int = INT_MAX) -> int | None:
    """The whole number `value` spells in ASCII or full-width digits (surrounding blanks allowed),
    if it lies in minimum .. maximum; otherwise None. No sign, no underscores, no exponent."""
    if not isinstance(value, str):
        return None
    text = value.strip().translate(_FULL_WIDTH_DIGITS)
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if minimum <= number <= maximum else None


def parse_id(value: Any) -> int | None:
    """A row id (1 .. ID_MAX) from a query-string or form value, or None."""
    return parse_int(value, minimum=1, maximum=ID_MAX)


def parse_fiscal_year(value: Any) -> int | None:
    """A fiscal year (2000 .. 2100) from a query-string or form value, or None."""
    return parse_int(value, minimum=FISCAL_YEAR_MIN, maximum=FISCAL_YEAR_MAX)


def arg_id(name: str) -> int | None:
    """The id in the query-string argument `name`, or None: a filter with a bad value is ignored."""
    return parse_id(request.args.get(name))


def parse_ids(values: Iterable[Any]) -> list[int]:
    """The valid ids among `values`, in their order, without repeats; bad values are left out."""
    return list(dict.fromkeys(i for i in (parse_id(v) for v in values) if i is not None))


class IdConverter(IntegerConverter):
    """`<int:name>` in a rule: an id, 1 .. ID_MAX, in ASCII digits without leading zeros."""

    regex = r"[1-9][0-9]{0,9}"

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = 1, max: int | None = ID_MAX,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    """Call before any blueprint is registered: a rule takes its converter when it is added."""
    app.url_map.converters["int"] = IdConverter
