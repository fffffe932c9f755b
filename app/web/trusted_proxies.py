"""Believe the reverse proxies in front of the app, and only as many as configured.

With TRUSTED_PROXY_COUNT = n > 0, werkzeug's ProxyFix takes the client address from the n-th
entry from the right of X-Forwarded-For and the scheme from X-Forwarded-Proto, so sign-in
throttling, session lists and logs see each employee's own address instead of the proxy's.
With 0 (the default) the headers are ignored: a client talking to the app directly could
otherwise choose its address. X-Forwarded-Host is never believed: the proxy must pass the
original Host header through (nginx: `proxy_set_header Host $host`).

The count is read per request, so a test (or a settings change in a running shell) takes effect
without rebuilding the app.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxies:
    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.config = app.config
        self.wsgi_app = wsgi_app
        self._fixes: dict[int, ProxyFix] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        count = int(self.config.get("TRUSTED_PROXY_COUNT") or 0)
        if count <= 0:
            return self.wsgi_app(environ, start_response)
        fix = self._fixes.get(count)
        if fix is None:
            fix = self._fixes[count] = ProxyFix(self.wsgi_app, x_for=count, x_proto=count, x_host=0,
                                                x_port=0, x_prefix=0)
        return fix(environ, start_response)


def init_app(app: Flask) -> None:
    app.wsgi_app = TrustedProxies(app, app.wsgi_app)  # type: ignore[method-assign]
