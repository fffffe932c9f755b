"""Helpers for race tests through the live server (tests/http_client.py): post several forms at
the same moment, then read what each racer was told on the page it was redirected to."""
from __future__ import annotations

import html
import http.client
import re
from dataclasses import dataclass

from tests.http_client import HttpClient, Response, release_together

_FLASH = re.compile(r'<p class="flash flash--(\w+)"[^>]*>(.*?)</p>', re.S)


@dataclass
class Post:
    client: HttpClient  # one browser per racer: each keeps its own session (and its flashes)
    path: str
    data: dict[str, str] | None  # None: a GET


def post_at_once(posts: list[Post]) -> list[Response | BaseException]:
    """Open every connection first, then release all the requests together (one barrier)."""
    connections: list[http.client.HTTPConnection] = []
    try:
        for post in posts:
            connections.append(post.client.connect())
    except BaseException:
        for connection in connections:
            connection.close()
        raise
    return release_together(
        [lambda connection, post=post: post.client.request("GET" if post.data is None else "POST", post.path,
                                                           post.data, connection)
         for post in posts], connections)


def assert_all_redirected(results: list[Response | BaseException], errors: list[BaseException]) -> None:
    """No exception, no 5xx, no 403/400: every racer was sent on to a page (POST/redirect/GET)."""
    failures = [r if isinstance(r, BaseException) else (r.status, r.text[:300])
                for r in results if isinstance(r, BaseException) or r.status not in (302, 303)]
    assert not failures, failures[:5]
    assert not errors, errors[:5]


def flashes(page: str) -> list[tuple[str, str]]:
    return [(category, html.unescape(text).strip()) for category, text in _FLASH.findall(page)]


def told(client: HttpClient, response: Response | BaseException) -> list[str]:
    """The messages shown on the page the racer was redirected to."""
    assert not isinstance(response, BaseException), response
    location = response.headers["Location"]
    page = client.get(location[location.index("/", location.index("//") + 2):] if "//" in location else location)
    assert page.status == 200, (location, page.status)
    return [text for _category, text in flashes(page.text)]
