"""Page bodies are sanitised Markdown that may show media of this host only (app/web/markdown.py)."""
from __future__ import annotations

from app.web.markdown import render_markdown, render_markdown_with_media

BASE = "/elearning-media/EL-1/"


def test_own_media_is_shown_and_everything_else_is_dropped() -> None:
    html = str(render_markdown_with_media(
        "![図](media/figure.png)\n\n<video src=\"media/intro.mp4\" controls></video>\n\n"
        "![外](https://example.com/a.png) ![上](media/../x.png) <img src=\"/elearning-media/OTHER/a.png\">"
        " <img src=\"media/a.png\" onerror=\"alert(1)\"> <script>alert(2)</script> [資料](media/handout.pdf)", BASE))
    assert '<img alt="図" src="/elearning-media/EL-1/figure.png">' in html
    assert '<video src="/elearning-media/EL-1/intro.mp4" controls' in html
    assert "example.com" not in html and "OTHER" not in html and ".." not in html
    assert "onerror" not in html and "<script" not in html
    assert 'href="/elearning-media/EL-1/handout.pdf"' in html


def test_other_pages_still_show_no_images() -> None:
    assert "<img" not in str(render_markdown("![図](media/figure.png)"))
