"""Cursor paging and ETags for the API.

A cursor is opaque to clients: URL-safe base64 of a small JSON object naming where the previous
page ended. A cursor the API did not make is a 422 naming the `cursor` field, never a 500.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from typing import Any, NoReturn

from flask import Response, request, url_for
from flask import abort as http_abort
from flask_smorest import abort

from app.web.ids import ID_MAX
from app.web.locale import gettext as _


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, keys: dict[str, type]) -> dict[str, Any] | None:
    """The position a cursor names, with exactly `keys` of the given types; None for no cursor."""
    if cursor is None:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if (not isinstance(position, dict) or set(position) != set(keys)
            or not all(_fits(position[k], t) for k, t in keys.items())):
        _not_ours()
    return position


def _not_ours() -> NoReturn:
    abort(422, errors={"query": {"cursor": [_("Not a cursor this API gave out: use the \"next\" link.")]}})
    raise AssertionError("unreachable")  # smorest's abort raises


def decode_keyset_cursor(cursor: str | None, key: str, kind: type[datetime] | type[date]) -> tuple[Any, int] | None:
    """A keyset position (an instant or a day, then an id), as `{key: isoformat, "id": id}`; None
    for no cursor. An instant must carry its offset."""
    position = decode_cursor(cursor, {key: str, "id": int})
    if position is None:
        return None
    try:
        value = kind.fromisoformat(position[key])
    except ValueError:
        _not_ours()
    if isinstance(value, datetime) and value.tzinfo is None:
        _not_ours()
    return value, position["id"]


def _fits(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= ID_MAX
    return isinstance(value, kind) and len(str(value)) <= 100


def next_link(position: dict[str, Any] | None, limit: int, **args: Any) -> str | None:
    """The URL of the next page (this endpoint, the same filters), or None after the last page."""
    if position is None:
        return None
    return url_for(str(request.endpoint), cursor=encode_cursor(position), limit=limit,
                   **{k: v for k, v in args.items() if v is not None}, **(request.view_args or {}))


def make_etag(*parts: object) -> str:
    """A strong ETag (quoted) over the parts that change when the resource does."""
    return '"' + hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).hexdigest()[:32] + '"'


def etag_matches(if_match: str, etag: str) -> bool:
    """If-Match (RFC 9110): "*", or one of the listed ETags (weak ones never match)."""
    candidates = [candidate.strip() for candidate in if_match.split(",")]
    return "*" in candidates or etag in candidates


def if_match_required(view: Callable[..., Response]) -> Callable[..., Response]:
    """428 when If-Match is missing (before the headers are parsed, which would say 422)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        if "If-Match" not in request.headers:
            http_abort(428)
        return view(*args, **kwargs)

    return wrapper
