"""Markdown to HTML, always sanitised with nh3 whoever wrote the text (nested lists may be indented
by 2, 3 or 4 spaces: `markdown_lists`).

Only a small set of tags survives; links may be http(s), mailto or relative; no images or
embedded media (pages never load anything from another host), except on e-learning pages, which
show files this host serves (`render_markdown_with_media`); every link gets rel=noopener.

The HTML depends on the text alone, so renderings are kept by their text (a course's description
is rendered once per worker, not on every view of the course page): nothing to invalidate, an
edited text is simply another key.
"""
from __future__ import annotations

import re
from functools import lru_cache

import markdown as markdown_lib
import nh3
from markupsafe import Markup

from app.web.markdown_lists import NestedListIndentExtension

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


def _to_html(text: str) -> str:
    """Python-Markdown with tables, footnotes … ("extra"), lists that don't mix kinds
    ("sane_lists") and nested lists indented by 2, 3 or 4 spaces (`markdown_lists`)."""
    return markdown_lib.markdown(text, extensions=["extra", "sane_lists", NestedListIndentExtension()],
                                 output_format="html")


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
    html = _to_html(text)
    return Markup(sanitize_html(html))


# --- pages that show media from this host (e-learning) ---------------------------------------

MEDIA_TAGS = ALLOWED_TAGS | {"img", "video", "audio", "figure", "figcaption"}
MEDIA_ATTRIBUTES = {**ALLOWED_ATTRIBUTES, "img": {"src", "alt", "title", "width", "height"},
                    "video": {"src", "controls", "width", "height", "preload"}, "audio": {"src", "controls", "preload"}}
_MEDIA_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*"  # no '..', no folders
_MEDIA_REFERENCE = re.compile(r"(\]\(|\bsrc=\")media/(?=[A-Za-z0-9])")


def render_markdown_with_media(text: str | None, media_base: str) -> Markup:
    """Like `render_markdown`, and images, videos and sound whose files are served by this host at
    `media_base` (e.g. "/learn/ELEC-2020/media/") may be shown: the text refers to them as
    media/NAME (`![alt](media/figure.png)`, `<video src="media/intro.mp4" controls></video>`). Any
    other source, another host's included, is dropped."""
    if not text:
        return Markup("")
    return _rendered_with_media(text, media_base)


@lru_cache(maxsize=256)
def _rendered_with_media(text: str, media_base: str) -> Markup:
    own = re.compile(re.escape(media_base) + _MEDIA_NAME + r"\Z")

    def only_own_media(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "src" and tag in ("img", "video", "audio"):
            return value if own.match(value) else None
        return value

    linked = _MEDIA_REFERENCE.sub(lambda match: match.group(1) + media_base, text)
    html = _to_html(linked)
    return Markup(nh3.clean(html, tags=MEDIA_TAGS, attributes=MEDIA_ATTRIBUTES, attribute_filter=only_own_media,
                            url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer nofollow",
                            strip_comments=True))
