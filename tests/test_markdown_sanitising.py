"""A Markdown XSS corpus: nothing executable survives rendering, wherever Markdown is shown."""
from __future__ import annotations

import re

import pytest

from app.web.markdown import render_markdown

CORPUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    '<a href="#" onclick="alert(1)">x</a>',
    '<svg onload="alert(1)"><circle r="5"/></svg>',
    '<svg><script>alert(1)</script></svg>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p <script>alert(1)</script>>nested</p>',
    '<<script>script>alert(1)<</script>/script>',
    '<a href="&#106;avascript:alert(1)">encoded</a>',
    '<form action="https://evil.example"><input name=x></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    '<details open ontoggle=alert(1)>',
    '[ref][1]\n\n[1]: javascript:alert(1)',
    '<img src="https://tracker.example/p.gif">',
]
DANGEROUS = re.compile(
    r"<\s*(script|iframe|object|embed|svg|math|form|input|meta|base|link|style|img)\b|\son\w+\s*=|"
    r"javascript:|data:|style\s*=",
    re.IGNORECASE,
)


@pytest.mark.parametrize("payload", CORPUS)
def test_nothing_executable_survives(payload):
    html = str(render_markdown(f"## 見出し\n\n{payload}\n\n本文"))
    assert not DANGEROUS.search(html), html
    assert "<h2>見出し</h2>" in html


def test_ordinary_markdown_still_renders():
    html = str(render_markdown("## ねらい\n\n- **データ**の活用\n- [県HP](https://www.pref.example.lg.jp/)\n\n"
                               "| 項目 | 時間 |\n|---|---|\n| 講義 | 2 |"))
    assert "<strong>データ</strong>" in html
    assert '<a href="https://www.pref.example.lg.jp/" rel="noopener noreferrer nofollow">県HP</a>' in html
    assert "<table>" in html and "<td>講義</td>" in html
