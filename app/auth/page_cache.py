"""Whole rendered pages kept in each worker's memory, for the busiest lists (catalog, team page).

Correctness first:
- Key: the endpoint, path and full query string, the signed-in user's id (from the signed session
  cookie), what picks the locale (session choice, Accept-Language; the user's own setting is
  database data), today's date in Tokyo and the data generation (app.core.cache_generation), read
  first thing in the request. Any committed write anywhere gives a new generation; the time the
  pages depend on is covered by the date and a short TTL ("upcoming" moves on).
- A page is per user and only ever served to the same user id, and only to a browser whose
  server-side session is active: the generation is read in one statement with that check
  (app/auth/sessions.py), so a cookie copied before sign-out never reaches a cached page.
  Everything else it shows of the user (active or not, roles, headed units, grade, unread count,
  locale setting) is database data: a request that finds a page under the current generation
  would load the same user, pass the same access check and render the same page, so a hit skips
  all that (it is most of the cost).
  A session that is not plainly signed in (flashed messages pending, forced password change,
  session-protection mismatch, remember-me only) always takes the full path.
- The CSRF token is not cached: pages are rendered with a placeholder that each response
  replaces with the requester's own token. A page that carried a real token is not kept.
- Not kept: pages rendered by a session that wrote, anything but a 200 HTML answer to a GET.
- Bounded: least recently used pages go first when the entries or bytes exceed the limits.
- Writes made outside the app's session (raw SQL in psql) are not seen; such a change shows
  within the TTL.

Switch off with PAGE_CACHE_ENABLED = False (the pages then render every time).
"""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple, TypeVar

from flask import Flask, Response, current_app, g, make_response, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app.auth.login import MUST_CHANGE_KEY
from app.auth.sessions import SESSION_TOKEN_KEY, active_session_clause
from app.core import cache_generation
from app.core.clock import now, today

F = TypeVar("F", bound=Callable[..., Any])

_KEY = "_page_cache_key"  # on g: the key looked up (and missed) at the start of the request
_RENDERING_KEY = "_page_cache_rendering"  # on g: render csrf_token() as the placeholder
_CSRF_PLACEHOLDER = f"page-cache-csrf-{secrets.token_hex(16)}"  # unguessable, so no content can forge it
_ENTRY_OVERHEAD = 256  # bytes counted per entry beyond its body and key text (bookkeeping)


class PageKey(NamedTuple):
    """Everything a cached page depends on (see the module docstring)."""

    endpoint: str | None
    path: str
    query_string: bytes
    user_id: str
    session_locale: str | None
    accept_language: str
    tokyo_date: str
    generation: str


class PageCache:
    """A thread-safe LRU of page bodies with an expiry each, bounded in entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[PageKey, tuple[float, bytes, int]] = OrderedDict()  # expiry, body, size
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: PageKey, at: float) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= at:
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: PageKey, body: bytes, expires_at: float) -> None:
        # The key's free-form parts count too: a long query string must not slip past the bound.
        size = len(body) + len(key.query_string) + len(key.accept_language) + len(key.path) + _ENTRY_OVERHEAD
        if size > self.max_bytes or self.max_entries < 1:
            return
        with self._lock:
            if key in self._entries:
                self._remove(key)
            self._entries[key] = (expires_at, body, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._remove(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _remove(self, key: PageKey) -> None:
        self._bytes -= self._entries.pop(key)[2]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes


def get_cache(app: Flask) -> PageCache:
    return app.extensions["manabi.page_cache"]


def cached_page(view: F) -> F:
    """Serve this view's page from the cache when nothing it depends on changed.

    Put it under the access decorator (`@signed_in` / `@require`): a page is only kept after the
    access check passed. The view must return rendered HTML (not a stream).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key: PageKey | None = g.pop(_KEY, None)
        if key is None or current_user.get_id() != key.user_id:
            return view(*args, **kwargs)
        started = now().timestamp()
        g.setdefault(_RENDERING_KEY, True)
        try:
            response = make_response(view(*args, **kwargs))
        finally:
            g.pop(_RENDERING_KEY, None)
        if response.is_streamed:
            raise TypeError("cached_page needs a view that returns rendered HTML")
        if _may_keep(response):
            get_cache(current_app).put(key, response.get_data(),
                                       started + current_app.config["PAGE_CACHE_TTL_SECONDS"])
        return _with_csrf_token(response)

    wrapper.__dict__["_page_cache"] = True  # copied onto the access decorator's wrapper
    return wrapper  # type: ignore[return-value]


def _request_key() -> PageKey | None:
    """The key of this request's page, or None if it must take the full path."""
    user_id = session.get("_user_id")
    if not user_id or "_flashes" in session or session.get(MUST_CHANGE_KEY) or cache_generation.session_wrote():
        return None
    token = session.get(SESSION_TOKEN_KEY)
    if not isinstance(user_id, str) or not user_id.isdigit() or len(user_id) > 18 or not isinstance(token, str):
        return None
    # Flask-Login's "basic" session protection only marks a session from another address or
    # browser as not fresh (nothing here asks for a fresh sign-in); "strong" signs it out: let it.
    login_manager = current_app.login_manager  # type: ignore[attr-defined]
    mode = current_app.config.get("SESSION_PROTECTION", login_manager.session_protection)
    if mode == "strong" and not session.permanent \
            and session.get("_id") != login_manager._session_identifier_generator():
        return None
    # Before the user or anything the page shows; and only while this browser's session row is
    # active (revoked, expired or missing: no row, the full path, where sign-in is checked).
    generation = cache_generation.current_token(active_session_clause(int(user_id), token))
    if generation is None:
        return None
    return PageKey(request.endpoint, request.path, request.query_string, user_id, session.get("locale"),
                   request.headers.get("Accept-Language", ""), today().isoformat(), generation)


def _may_keep(response: Response) -> bool:
    if response.status_code != 200 or response.mimetype != "text/html" or cache_generation.session_wrote():
        return False
    if "_flashes" in session:
        return False
    real_token = g.get("csrf_token")  # set by generate_csrf if anything asked for the real token
    return not (real_token and real_token.encode() in response.get_data())


def _with_csrf_token(response: Response) -> Response:
    body = response.get_data()
    placeholder = _CSRF_PLACEHOLDER.encode()
    if placeholder in body:
        response.set_data(body.replace(placeholder, generate_csrf().encode()))
    return response


def init_app(app: Flask) -> None:
    app.extensions["manabi.page_cache"] = PageCache(app.config["PAGE_CACHE_MAX_ENTRIES"],
                                                    app.config["PAGE_CACHE_MAX_BYTES"])

    # Before the sign-in hooks: the generation is read before the user or anything else the page
    # shows is loaded (on PostgreSQL each statement has its own snapshot), so no page is older
    # than its key; and a hit answers before the user is loaded at all.
    @app.before_request
    def _serve_cached_page() -> Response | None:
        if not app.config["PAGE_CACHE_ENABLED"] or request.method not in ("GET", "HEAD"):
            return None
        view = app.view_functions.get(request.endpoint or "")
        if not getattr(view, "_page_cache", False):
            return None
        key = _request_key()
        if key is None:
            return None
        body = get_cache(app).get(key, now().timestamp())
        if body is not None:
            return _with_csrf_token(app.response_class(body, mimetype="text/html"))
        g.setdefault(_KEY, key)
        return None

    # Registered after Flask-WTF's own processor, which it overrides while a page is rendered for the cache.
    @app.context_processor
    def _csrf_placeholder() -> dict[str, Any]:
        if g.get(_RENDERING_KEY):
            return {"csrf_token": lambda: _CSRF_PLACEHOLDER}
        return {}
