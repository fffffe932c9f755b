"""Absolute URLs of this site, for whatever leaves the browser's address bar: mail, .ics files and
calendar feeds, the check-in QR code, certificate verify links, the public report's address.

They are built from configuration (BASE_URL, e.g. "https://manabi.pref.example.jp"), never from
the request: the Host header is chosen by the client, so `url_for(..., _external=True)` or
`request.url_root` would let anyone who can send a request with "Host: evil.example" have the
app print links to another site (and a QR code on the classroom screen that sends people there).
They work the same inside a request, in the scheduler and in CLI commands.

In production the Host header is checked as well (TRUSTED_HOSTS, default the host of BASE_URL,
see config.py): a request for another host is refused with 400 before any view runs.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app
from werkzeug.exceptions import SecurityError


def base_url() -> str:
    """BASE_URL without a trailing slash: prefix a path of this site ("/my-learning") with it."""
    return str(current_app.config["BASE_URL"]).rstrip("/")


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` (a full name such as "completion.verify") under BASE_URL.
    Extra values become the query string, like url_for; `_anchor` adds a fragment."""
    anchor = values.pop("_anchor", None)
    parts = urlsplit(base_url())
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    url = adapter.build(endpoint, values, force_external=True)
    return f"{url}#{anchor}" if anchor else url


def check_base_url(value: Any) -> None:
    """Refuse a BASE_URL that cannot prefix links: an http(s) scheme and a host, nothing else."""
    parts = urlsplit(str(value or ""))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise RuntimeError(f"BASE_URL must look like https://manabi.example.jp (got {value!r})")


def refuse_untrusted_host(_error: SecurityError) -> Response:
    """A request whose Host is not in TRUSTED_HOSTS: a bare 400. No page layout, which would
    build links, and there is nothing to build them with for a host the app does not serve."""
    return Response("400 Bad Request: unknown host\n", status=400, mimetype="text/plain")


def init_app(app: Flask) -> None:
    check_base_url(app.config.get("BASE_URL"))
    app.add_template_global(external_url)
    app.register_error_handler(SecurityError, refuse_untrusted_host)
