"""Nested lists indented by 2, 3 or 4 spaces render nested (app/web/markdown_lists.py), wherever
Markdown is shown; code blocks, paragraphs and the course files themselves are left as they were."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app.web.markdown import render_markdown, render_markdown_with_media
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
GRADE_COURSES = ("dx-kacho-2020.md", "dx-shunin-2020.md")


def _flat(html: str) -> str:
    return re.sub(r"\s+", "", html)


@pytest.mark.parametrize("indent", [2, 3, 4])
def test_a_bulleted_list_nested_in_a_numbered_list(indent: int) -> None:
    pad = " " * indent
    html = _flat(str(render_markdown(f"1. 事前学習\n2. 集合研修\n{pad}- 講義\n{pad}- 演習\n3. テスト\n")))
    assert html == "<ol><li>事前学習</li><li>集合研修<ul><li>講義</li><li>演習</li></ul></li><li>テスト</li></ol>"


@pytest.mark.parametrize("indent", [2, 3, 4])
def test_three_levels_of_bullets_and_numbers(indent: int) -> None:
    pad = " " * indent
    html = _flat(str(render_markdown(f"- 部\n{pad}- 課\n{pad * 2}1. 係\n{pad * 2}2. 班\n{pad}- 室\n- 局\n")))
    assert html == ("<ul><li>部<ul><li>課<ol><li>係</li><li>班</li></ol></li><li>室</li></ul></li>"
                    "<li>局</li></ul>")


def test_a_paragraph_under_a_nested_item_stays_in_it() -> None:
    html = _flat(str(render_markdown("1. 集合研修\n   - 講義\n\n     資料は当日配ります。\n\n2. テスト\n")))
    assert "<ul><li><p>講義</p><p>資料は当日配ります。</p></li></ul>" in html
    assert html.endswith("<li><p>テスト</p></li></ol>")


def test_e_learning_pages_nest_lists_too() -> None:
    html = _flat(str(render_markdown_with_media("- 在宅勤務\n   - OSを最新に\n", "/learn/X/media/")))
    assert html == "<ul><li>在宅勤務<ul><li>OSを最新に</li></ul></li></ul>"


def test_code_blocks_and_paragraphs_render_as_before() -> None:
    text = ("本文の一行目\n二行目\n\n    code line\n      indented more\n\nあとの段落\n\n"
            "```\n- not a list\n   - nor this\n```\n")
    assert str(render_markdown(text)) == (
        "<p>本文の一行目\n二行目</p>\n<pre><code>code line\n  indented more\n</code></pre>\n<p>あとの段落</p>\n"
        "<pre><code>- not a list\n   - nor this\n</code></pre>")


def test_an_indented_dash_after_a_paragraph_line_is_not_a_list() -> None:
    assert str(render_markdown("注意：\n   - 持ち物なし")) == "<p>注意：\n   - 持ち物なし</p>"


def test_sanitising_still_applies_inside_nested_lists() -> None:
    html = str(render_markdown("- a\n   - <script>alert(1)</script>[x](javascript:alert(2))\n"))
    assert "<ul>\n<li>a<ul>" in html and "<script" not in html and "javascript:" not in html


def test_the_grade_training_pages_show_their_curriculum_as_nested_lists(app, client, tmp_path: Path) -> None:
    from sqlalchemy import select

    from app.catalog.models import Course
    from app.catalog.services import export_course_file, sync_catalog
    from app.core.db import db_session

    originals = {name: (ROOT / "courses" / name).read_bytes() for name in GRADE_COURSES}
    for name in GRADE_COURSES:
        shutil.copy(ROOT / "courses" / name, tmp_path / name)
    with app.app_context():
        report = sync_catalog(tmp_path, None)
        assert not report.issues
        db_session.commit()
        person = factories.employee(grade_code="KACHO")
    factories.login_as(client, person)
    for code, first_nested in (("DX-KACHO-2020", "講義：DX時代の組織マネジメントと政策のあり方"),
                               ("DX-SHUNIN-2020", "講義：デザイン思考による業務の見直し方")):
        html = client.get(f"/catalog/courses/{code}").get_data(as_text=True)
        body = _flat(html.split('class="prose"')[1])
        assert f"約4.5時間）</strong><ul><li>{first_nested}</li>" in body, code
        assert "-講義" not in body, code  # not one run-on line
    # The files are as written, and the stored courses still export to them byte for byte.
    assert {name: (ROOT / "courses" / name).read_bytes() for name in GRADE_COURSES} == originals
    with app.app_context():
        for name, code in zip(GRADE_COURSES, ("DX-KACHO-2020", "DX-SHUNIN-2020"), strict=True):
            course = db_session.scalar(select(Course).where(Course.code == code))
            assert export_course_file(course).encode() == originals[name], name
