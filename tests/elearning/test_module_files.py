"""The `modules:` section of a course file: what an author may write, what is refused (naming the
field and the line), and that sync and export round-trip it byte for byte."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from app.catalog.course_files import parse_course_text, render_course_file
from app.catalog.models import Course
from app.catalog.module_files import check_modules, modules_of, normalise_body, render_modules
from app.catalog.services import export_course_file, save_course, spec_from_course, sync_catalog
from app.core.db import db_session

GRADES = {"BUCHO", "JICHO", "KACHO", "HOSA", "SHUSA", "SHUNIN", "SHUJI"}
COURSES = Path(__file__).resolve().parent.parent.parent / "courses"

HEADER = """---
code: EL-TEST-1
kind: course
title:
  ja: 自分のペースで学ぶ研修
  en: Self-paced course
track: elective
theme: general
format: elearning
hours: 1
fiscal_year: 2020
target_grades: [SHUNIN]
prerequisites: []
completion:
  min_attendance: 0
  quiz_pass_mark: 50
  survey_required: false
quiz:
  pass_mark: 50
  attempts_allowed: 2
  questions:
    - type: true_false
      text: 正しいですか。
      answer: true
      points: 1
"""
MODULES = """modules:
  - key: main
    title:
      ja: 基礎
      en: Basics
    minutes: 30
    quiz: true
    pages:
      - title: はじめに
        body: |
          最初のページです。

          ![図](media/figure-1.png)
      - title: まとめ
        body: |
          - 箇条書き
          - もう一つ

              字下げしたコード
"""
BODY = """---
## ねらい

自分のペースで学ぶ。
"""


def text(modules: str = MODULES) -> str:
    return HEADER + modules + BODY


def test_a_hand_written_section_is_read_and_written_back_byte_for_byte() -> None:
    spec, issues = parse_course_text(text(), "el.md", GRADES)
    assert issues == [] and spec is not None
    (found,) = modules_of(spec.modules)
    assert (found.key, found.title_ja, found.minutes, found.has_quiz, found.before_session) == \
        ("main", "基礎", 30, True, False)
    assert [p.title for p in found.pages] == ["はじめに", "まとめ"]
    assert found.pages[1].body.endswith("    字下げしたコード\n")
    assert render_course_file(spec) == text()


@pytest.mark.parametrize("name", ["elec-security-2020.md", "dx-kacho-2020.md", "dx-shunin-2020.md"])
def test_the_catalog_files_with_modules_round_trip(name: str) -> None:
    original = (COURSES / name).read_text(encoding="utf-8")
    spec, issues = parse_course_text(original, name, GRADES)
    assert issues == [] and spec is not None and spec.modules
    assert render_course_file(spec) == original
    pages = [p for m in modules_of(spec.modules) for p in m.pages]
    assert len(pages) >= 3 and all(p.body.strip() for p in pages)


@pytest.mark.parametrize(("modules", "field", "fragment"), [
    ("modules: []\n", "modules", "1 to 20 modules"),
    (MODULES.replace("key: main", "key: 'no spaces'"), "modules[1].key", "letters, digits"),
    (MODULES.replace("      en: Basics\n", ""), "modules[1].title", "ja and en"),
    (MODULES.replace("minutes: 30", "minutes: lots"), "modules[1].minutes", "whole minutes"),
    (MODULES.replace("quiz: true", "quiz: maybe"), "modules[1].quiz", "true or false"),
    (MODULES.replace("    quiz: true\n", "    quiz: true\n    before_session: true\n"), "modules[1].quiz",
     "pre-study"),
    (MODULES.replace("      - title: まとめ\n", "      - title: まとめ\n        note: x\n"), "modules[1].pages[2].note",
     "unknown key"),
    (MODULES.replace("        body: |\n          最初のページです。\n",
                     "        body: ''\n        extra: |\n          最初のページです。\n"), "modules[1].pages[1].body",
     "is missing"),
    (MODULES.replace("最初のページです。", "最初の\u202eページです。"), "modules[1].pages[1].body", "U+202E"),
    (MODULES.replace("media/figure-1.png", "media/../secret.png"), "modules[1].pages[1].body", "plain file name"),
    (MODULES + "  - key: main\n    title: {ja: 二つ目, en: Second}\n    pages:\n      - {title: a, body: b}\n",
     "modules[2].key", "used by another module"),
])
def test_a_wrong_section_names_the_field_and_the_line(modules: str, field: str, fragment: str) -> None:
    spec, issues = parse_course_text(text(modules), "el.md", GRADES)
    assert spec is None
    found = [i for i in issues if i.field == field]
    assert found, issues
    assert fragment in found[0].message and "(line " in found[0].message and found[0].file == "el.md"


def test_the_line_named_is_the_line_of_the_field() -> None:
    broken = text(MODULES.replace("minutes: 30", "minutes: -5"))
    _spec, issues = parse_course_text(broken, "el.md", GRADES)
    (issue,) = issues
    line = int(issue.message.rsplit("line ", 1)[1].rstrip(")"))
    assert broken.splitlines()[line - 1].strip() == "minutes: -5"


def test_checks_across_the_header() -> None:
    without_quiz, problems = check_modules(yaml.safe_load(MODULES)["modules"], kind="course", has_quiz=False,
                                           survey_required=False)
    assert without_quiz is None and problems[0][0] == "modules[1].quiz"
    _none, problems = check_modules(yaml.safe_load(MODULES)["modules"], kind="programme", has_quiz=True,
                                    survey_required=False)
    assert problems[0][0] == "modules"
    _none, problems = check_modules(yaml.safe_load(MODULES)["modules"], kind="course", has_quiz=True,
                                    survey_required=True)
    assert [p[0] for p in problems] == ["completion.survey_required"]


def test_render_reads_back_what_it_wrote_for_awkward_text() -> None:
    modules = [{"key": "k", "title": {"ja": "題: コロン", "en": "yes"},
                "pages": [{"title": "#見出し風", "body": normalise_body("\t\tタブ始まり\n\n- 項目  \n")},
                          {"title": "null", "body": normalise_body("    字下げで始まる\n次の行\n")}]}]
    assert yaml.safe_load(render_modules(modules)) == {"modules": modules}


def test_sync_stores_modules_export_gives_the_file_back_and_an_error_applies_nothing(ctx: Flask,
                                                                                     tmp_path: Path) -> None:
    (tmp_path / "el.md").write_text(text(), encoding="utf-8")
    report = sync_catalog(tmp_path)
    assert report.ok and report.added == ["EL-TEST-1"]
    db_session.commit()
    course = db_session.scalar(select(Course).where(Course.code == "EL-TEST-1"))
    assert course is not None and course.modules_spec and course.modules_spec[0]["key"] == "main"
    assert export_course_file(course) == text()
    assert sync_catalog(tmp_path).unchanged == ["EL-TEST-1"]

    (tmp_path / "el.md").write_text(text(MODULES.replace("minutes: 30", "minutes: 0")), encoding="utf-8")
    (tmp_path / "other.md").write_text(text().replace("EL-TEST-1", "EL-TEST-2"), encoding="utf-8")
    report = sync_catalog(tmp_path)
    assert not report.ok and report.added == []
    (issue,) = report.issues
    assert (issue.file, issue.field) == ("el.md", "modules[1].minutes") and "(line " in issue.message
    assert db_session.scalar(select(Course).where(Course.code == "EL-TEST-2")) is None


def test_a_web_edit_keeps_the_modules(ctx: Flask, tmp_path: Path) -> None:
    (tmp_path / "el.md").write_text(text(), encoding="utf-8")
    assert sync_catalog(tmp_path).ok
    course = db_session.scalar(select(Course).where(Course.code == "EL-TEST-1"))
    assert course is not None
    spec = spec_from_course(course)
    spec.modules = None  # the designer's form knows nothing of modules
    spec.title_ja = "自分のペースで学ぶ研修（改）"
    save_course(None, course, spec, "title")  # type: ignore[arg-type]
    db_session.commit()
    assert course.title_ja.endswith("（改）") and course.modules_spec and course.modules_spec[0]["key"] == "main"
