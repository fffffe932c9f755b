"""Markdown to HTML, always sanitised with nh3 whoever wrote the text.

Only a small set of tags survives; links may be http(s), mailto or relative; no images or
embedded media (pages never load anything from another host); every link gets rel=noopener.

The HTML depends on the text alone, so renderings are kept by their text (a course's description
is rendered once per worker, not on every view of the course page): nothing to invalidate, an
edited text is simply another key.
"""
from __future__ import annotations

from functools import lru_cache

import markdown as markdown_lib
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")
    return _rendered(text)


@lru_cache(maxsize=512)  # course descriptions and notices; a few MiB at most per worker
def _rendered(text: str) -> Markup:
    html = markdown_lib.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    return Markup(sanitize_html(html))
