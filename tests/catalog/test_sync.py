from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.catalog.models import Course, CourseStatus, CourseVersion
from app.catalog.services import export_course_file, sync_catalog
from app.core.db import db_session

COURSE = """---
code: {code}
title:
  ja: {title}
  en: Data basics
track: elective
theme: {theme}
format: elearning
hours: 1.5
fiscal_year: 2020
target_grades: [{grade}]
prerequisites: [{prereq}]
completion:
  min_attendance: 100
  quiz_pass_mark: 60
  survey_required: true
---
## ねらい

データの基本を学ぶ。
"""


def write(directory: Path, name: str, code: str, *, title: str = "データ活用入門", theme: str = "smart_solutions",
          grade: str = "SHUNIN", prereq: str = "") -> Path:
    path = directory / name
    path.write_text(COURSE.format(code=code, title=title, theme=theme, grade=grade, prereq=prereq), encoding="utf-8")
    return path


def courses() -> dict[str, Course]:
    return {c.code: c for c in db_session.scalars(select(Course))}


def test_sync_adds_then_second_run_changes_nothing(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    write(tmp_path, "b.md", "DATA-2", prereq="DATA-1")
    first = sync_catalog(tmp_path)
    assert first.ok and sorted(first.added) == ["DATA-1", "DATA-2"]
    db_session.commit()
    loaded = courses()
    assert [p.code for p in loaded["DATA-2"].prerequisites] == ["DATA-1"]
    assert loaded["DATA-1"].status == CourseStatus.PUBLISHED
    assert str(loaded["DATA-1"].hours) in ("1.5", "1.50")
    second = sync_catalog(tmp_path)
    assert second.ok and second.added == [] and second.changed == []
    assert sorted(second.unchanged) == ["DATA-1", "DATA-2"]
    assert db_session.scalar(select(CourseVersion.version).where(CourseVersion.course_id == loaded["DATA-1"].id)) == 1


def test_changed_file_makes_a_new_version_and_keeps_the_old_one(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    sync_catalog(tmp_path)
    db_session.commit()
    write(tmp_path, "a.md", "DATA-1", title="データ活用入門（改訂）")
    report = sync_catalog(tmp_path)
    assert report.changed == ["DATA-1"]
    course = courses()["DATA-1"]
    assert course.version == 2 and course.title_ja == "データ活用入門（改訂）"
    snapshots = db_session.scalars(select(CourseVersion).where(CourseVersion.course_id == course.id)
                                   .order_by(CourseVersion.version)).all()
    assert [v.snapshot["title"]["ja"] for v in snapshots] == ["データ活用入門", "データ活用入門（改訂）"]


def test_course_removed_from_disk_is_retired_not_deleted(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    path = write(tmp_path, "b.md", "DATA-2")
    sync_catalog(tmp_path)
    db_session.commit()
    path.unlink()
    report = sync_catalog(tmp_path)
    assert report.retired == ["DATA-2"]
    retired = courses()["DATA-2"]
    assert retired.status == CourseStatus.RETIRED and retired.retired_at is not None
    # Putting the file back brings it back.
    write(tmp_path, "b.md", "DATA-2")
    assert sync_catalog(tmp_path).changed == ["DATA-2"]
    assert courses()["DATA-2"].status == CourseStatus.PUBLISHED


@pytest.mark.parametrize(
    ("content", "field", "fragment"),
    [
        (COURSE.replace("hours: 1.5\n", ""), "hours", "missing"),
        (COURSE.replace("title:\n  ja: {title}\n  en: Data basics\n", ""), "title", "missing"),
        (COURSE.replace("[{grade}]", "[KAKARICHO]"), "target_grades", "KAKARICHO"),
        (COURSE.replace("theme: {theme}", "theme: smart_city"), "theme", "smart_city"),
        (COURSE.replace("track: elective", "track: [elective"), "header", "invalid YAML"),
        (COURSE.replace("[{prereq}]", "[NOPE-9]"), "prerequisites", "NOPE-9"),
        (COURSE.replace("---\ncode", "code"), "header", "YAML header"),
        (COURSE.replace("quiz_pass_mark: 60", "quiz_pass_mark: 160"), "completion.quiz_pass_mark", "0 to 100"),
    ],
)
def test_file_errors_name_file_and_field_and_apply_nothing(ctx, tmp_path, content, field, fragment):
    write(tmp_path, "good.md", "GOOD-1")
    (tmp_path / "broken.md").write_text(
        content.replace("{code}", "BROKEN-1").replace("{title}", "壊れた研修").replace("{theme}", "general")
        .replace("{grade}", "SHUNIN").replace("{prereq}", ""), encoding="utf-8")
    report = sync_catalog(tmp_path)
    assert not report.ok
    issue = next(i for i in report.issues if i.file == "broken.md")
    assert issue.field == field and fragment in issue.message, report.issues
    assert report.added == [] and courses() == {}


def test_duplicate_code_is_an_error(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    write(tmp_path, "b.md", "DATA-1")
    report = sync_catalog(tmp_path)
    assert [(i.file, i.field) for i in report.issues] == [("b.md", "code")]
    assert "a.md" in report.issues[0].message
    assert courses() == {}


def test_export_round_trips_unchanged(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    write(tmp_path, "b.md", "DATA-2", prereq="DATA-1")
    sync_catalog(tmp_path)
    db_session.commit()
    exported = tmp_path / "exported"
    exported.mkdir()
    for course in courses().values():
        (exported / f"{course.code.lower()}.md").write_text(export_course_file(course), encoding="utf-8")
    report = sync_catalog(exported)
    assert report.ok and sorted(report.unchanged) == ["DATA-1", "DATA-2"] and report.changed == []


def test_the_real_catalog_loads_cleanly(ctx):
    from app.catalog.cli import DEFAULT_DIR

    report = sync_catalog(DEFAULT_DIR)
    assert report.ok, [str(i) for i in report.issues]
    loaded = courses()
    assert {"DX-KACHO-2020", "DX-SHUNIN-2020", "SMART-2020"} <= set(loaded)
    programme = loaded["SMART-2020"]
    assert programme.is_programme and len(programme.items) >= 4
    # Exporting every real course and syncing the result is a no-op.
    for course in loaded.values():
        from app.catalog.course_files import parse_course_text

        spec, issues = parse_course_text(export_course_file(course), course.code, {"BUCHO", "JICHO", "KACHO", "HOSA",
                                                                                   "SHUSA", "SHUNIN", "SHUJI"})
        assert issues == [] and spec is not None and spec.content_hash() == course.content_hash


def test_cli_sync_reports_and_exits_non_zero_on_error(runner, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    result = runner.invoke(args=["catalog", "sync", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0 and "would be added: 1" in result.output
    (tmp_path / "bad.md").write_text("---\ncode: X\n---\n", encoding="utf-8")
    result = runner.invoke(args=["catalog", "sync", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad.md: title: is missing" in result.output


def test_cli_sync_twice_reports_unchanged(runner, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    assert runner.invoke(args=["catalog", "sync", str(tmp_path)]).exit_code == 0
    result = runner.invoke(args=["catalog", "sync", str(tmp_path)])
    assert "added: 0" in result.output and "unchanged: 1" in result.output
