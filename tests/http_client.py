"""A minimal browser for tests that drive a live server over real sockets (race and concurrency
tests): its own cookies, one fresh connection per request (werkzeug's server closes each one),
`connect()` to open a request's connection ahead of time so many can be released at once."""
from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from flask import Flask, got_request_exception
from werkzeug.serving import BaseWSGIServer, make_server

from tests import factories

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    text: str


class HttpClient:
    """A minimal cookie-keeping HTTP client over http.client (no redirects followed)."""

    def __init__(self, host: str, port: int, accept_language: str = "ja") -> None:
        self.host = host
        self.port = port
        self.accept_language = accept_language
        self.cookies: dict[str, str] = {}
        self._lock = threading.Lock()  # a double click shares one client between threads

    def connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        connection.connect()
        return connection

    def request(self, method: str, path: str, data: dict[str, str] | None = None,
                connection: http.client.HTTPConnection | None = None,
                extra_headers: dict[str, str] | None = None) -> Response:
        connection = connection or self.connect()
        try:
            headers = {"Accept-Language": self.accept_language, **(extra_headers or {})}
            with self._lock:
                if self.cookies:
                    headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
            body = None
            if data is not None:
                body = urlencode(data)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            text = raw.read().decode("utf-8", "replace")
            self._keep_cookies(raw.msg.get_all("Set-Cookie") or [])
            return Response(raw.status, raw.msg, text)
        finally:
            connection.close()

    def _keep_cookies(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            with self._lock:
                for name, morsel in jar.items():
                    if morsel["max-age"] == "0" or not morsel.value:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.coded_value

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str] | None = None,
             connection: http.client.HTTPConnection | None = None) -> Response:
        return self.request("POST", path, data or {}, connection)

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        assert page.status == 200, (path, page.status)
        match = _CSRF.search(page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self, login: str, password: str = factories.PASSWORD) -> HttpClient:
        token = self.csrf_token("/login")
        response = self.post("/login", {"login": login, "password": password, "csrf_token": token})
        assert response.status in (302, 303), (login, response.status, response.text[:300])
        return self




def release_together(jobs: list[Callable[[http.client.HTTPConnection], Response]],
                     connections: list[http.client.HTTPConnection]) -> list[Response | BaseException]:
    """Run job i on connection i in its own thread, all released at the same moment by one
    barrier; returns each job's response or the exception it raised. Closes the connections."""
    barrier = threading.Barrier(len(jobs))
    results: list[Response | BaseException | None] = [None] * len(jobs)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = jobs[index](connections[index])
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,), name=f"racer-{i}") for i in range(len(jobs))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for connection in connections:
            connection.close()
    assert not any(thread.is_alive() for thread in threads), "a request did not finish"
    return [r if r is not None else RuntimeError("no result") for r in results]


@contextmanager
def serve_in_thread(application: Flask, name: str) -> Iterator[tuple[int, list[BaseException]]]:
    """Serve the app on a free port in a thread; yields (port, exceptions the app raised). The app's
    engine is disposed afterwards."""
    errors: list[BaseException] = []

    def _record(_sender: Flask, exception: BaseException, **_extra: object) -> None:
        errors.append(exception)

    got_request_exception.connect(_record, application)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server.server_port, errors
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        got_request_exception.disconnect(_record, application)
        application.extensions["manabi.engine"].dispose()
