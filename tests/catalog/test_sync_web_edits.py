"""Courses as files that round-trip: `flask catalog sync` never silently overwrites a course HR
edited on the web since its last sync (it names the course, the editor and when, and applies
nothing unless --force), and every file in courses/ comes back byte for byte from export."""
from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.catalog.cli import DEFAULT_DIR
from app.catalog.models import Course, CourseStatus
from app.catalog.services import export_course_file, retire_course, save_course, spec_from_course, sync_catalog
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories
from tests.catalog.test_sync import courses, write

COURSE_FILES = sorted(p for p in DEFAULT_DIR.glob("*.md") if p.name.lower() != "readme.md")


def _hr(name: str = "人事 花子"):  # type: ignore[no-untyped-def]
    return factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,), name=name)


def _edit_title_on_the_web(code: str, title: str, editor) -> None:  # type: ignore[no-untyped-def]
    course = courses()[code]
    spec = spec_from_course(course)
    spec.title_ja = title
    save_course(editor, course, spec, "web edit")
    db_session.commit()


def test_sync_refuses_a_web_edited_course_naming_it_and_its_editor_and_applies_nothing(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    write(tmp_path, "b.md", "DATA-2")
    assert sync_catalog(tmp_path).ok
    db_session.commit()
    hr = _hr()
    _edit_title_on_the_web("DATA-1", "データ活用入門（人事課で修正）", hr)
    edited = courses()["DATA-1"]
    assert edited.web_edited_by_id == hr.id and edited.web_edited_at is not None
    write(tmp_path, "b.md", "DATA-2", title="別の変更")  # another course changed in the files meanwhile

    report = sync_catalog(tmp_path)

    assert not report.ok and report.issues == []
    (conflict,) = report.conflicts
    assert (conflict.code, conflict.file, conflict.edited_by) == ("DATA-1", "a.md", "人事 花子")
    db_session.expire_all()
    loaded = courses()
    assert loaded["DATA-1"].title_ja == "データ活用入門（人事課で修正）" and loaded["DATA-1"].version == 2
    assert loaded["DATA-2"].title_ja == "データ活用入門"  # all or nothing: the other change waits too


def test_cli_names_the_course_and_editor_then_force_overwrites(runner, app, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    assert runner.invoke(args=["catalog", "sync", str(tmp_path)]).exit_code == 0
    with app.app_context():
        _edit_title_on_the_web("DATA-1", "ウェブで修正", _hr("研修 担当"))

    refused = runner.invoke(args=["catalog", "sync", str(tmp_path)])
    assert refused.exit_code == 1
    assert "DATA-1 (a.md): edited on the web by 研修 担当 on " in refused.output
    assert "JST" in refused.output and "nothing was applied" in refused.output and "--force" in refused.output
    with app.app_context():
        assert courses()["DATA-1"].title_ja == "ウェブで修正"

    forced = runner.invoke(args=["catalog", "sync", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "overwritten web edit: DATA-1 (a.md): edited on the web by 研修 担当" in forced.output
    assert "changed: 1" in forced.output
    with app.app_context():
        course = courses()["DATA-1"]
        assert course.title_ja == "データ活用入門" and course.web_edited_at is None and course.synced_at is not None
        assert db_session.scalar(select(AuditEvent.before).where(
            AuditEvent.action == "catalog.web_edit_overwritten"))["web_edited_by"] == "研修 担当"
    again = runner.invoke(args=["catalog", "sync", str(tmp_path)])
    assert again.exit_code == 0 and "unchanged: 1" in again.output


def test_a_web_edit_exported_to_its_file_syncs_without_conflict(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    sync_catalog(tmp_path)
    db_session.commit()
    _edit_title_on_the_web("DATA-1", "ウェブで修正", _hr())
    # HR exports the course and the file is committed: the file now says what the web said.
    (tmp_path / "a.md").write_bytes(export_course_file(courses()["DATA-1"]).encode("utf-8"))

    report = sync_catalog(tmp_path)

    assert report.ok and report.unchanged == ["DATA-1"] and report.changed == []
    course = courses()["DATA-1"]
    assert course.web_edited_at is None and course.synced_hash == course.content_hash
    assert course.version == 2  # the web edit's version stands; nothing new was written


def test_retiring_on_the_web_is_a_web_edit_too(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    sync_catalog(tmp_path)
    db_session.commit()
    hr = _hr()
    retire_course(hr, courses()["DATA-1"])
    db_session.commit()

    report = sync_catalog(tmp_path)

    assert [c.code for c in report.conflicts] == ["DATA-1"]
    assert courses()["DATA-1"].status == CourseStatus.RETIRED
    assert sync_catalog(tmp_path, force=True).ok
    assert courses()["DATA-1"].status == CourseStatus.PUBLISHED


def test_a_web_edited_course_whose_file_is_gone_is_not_retired_silently(ctx, tmp_path):
    write(tmp_path, "a.md", "DATA-1")
    path = write(tmp_path, "b.md", "DATA-2")
    sync_catalog(tmp_path)
    db_session.commit()
    _edit_title_on_the_web("DATA-2", "ウェブで修正", _hr())
    path.unlink()

    report = sync_catalog(tmp_path)

    (conflict,) = report.conflicts
    assert (conflict.code, conflict.file) == ("DATA-2", "")
    assert courses()["DATA-2"].status == CourseStatus.PUBLISHED


def test_every_course_file_round_trips_byte_identically_through_sync_and_export(ctx, tmp_path):
    report = sync_catalog(DEFAULT_DIR)
    assert report.ok, [str(i) for i in report.issues]
    db_session.commit()
    loaded = {c.source_path: c for c in db_session.scalars(select(Course))}
    for path in COURSE_FILES:
        exported = export_course_file(loaded[path.name]).encode("utf-8")
        assert exported == path.read_bytes(), path.name
        (tmp_path / path.name).write_bytes(exported)
    again = sync_catalog(tmp_path)
    assert again.ok and again.changed == [] and again.added == [] and len(again.unchanged) == len(COURSE_FILES)
