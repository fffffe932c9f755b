"""Security headers on every response. The CSP allows no inline script and no other host.

Cache-Control: no-store on private responses, so neither a shared cache nor the browser's disk
keeps them (a shared PC, a telework terminal): every response to a signed-in browser and every
download (an attachment: CSV and Excel exports, certificate PDFs, .ics files), whoever asks.
Static files and what anonymous visitors see (the sign-in page, /verify, the public report) keep
their caching.
"""
from __future__ import annotations

from flask import Flask, Response, g, request, session

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app: Flask) -> None:
    @app.after_request
    def _set_security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if is_private(response):
            response.headers["Cache-Control"] = "no-store"
        return response


def is_private(response: Response) -> bool:
    """A download, or anything but a static file answered to a signed-in browser."""
    if response.headers.get("Content-Disposition", "").lower().startswith("attachment"):
        return True
    if request.endpoint == "static":
        return False
    return _signed_in()


def _signed_in() -> bool:
    # A response made before the user is loaded (an early 404, an error page): the session cookie
    # naming a user says "signed in", without a query.
    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        return True
    return bool(session.get("_user_id"))
