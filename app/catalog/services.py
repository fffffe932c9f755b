"""Writes to the catalog: sync from files, the curriculum designer, assignment rules."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from app.audit.services import record_event
from app.catalog.course_files import (
    RUBRIC_MILESTONES,
    CourseSpec,
    FileIssue,
    check_rubric,
    parse_course_text,
    render_course_file,
)
from app.catalog.events import CatalogSynced
from app.catalog.models import (
    Assignment,
    AssignmentRule,
    AssignmentStatus,
    Course,
    CourseKind,
    CourseSource,
    CourseStatus,
    CourseVersion,
    DeliveryFormat,
    ProgrammeItem,
    Recurrence,
    Theme,
    Track,
)
from app.catalog.recurrence import schedule_of
from app.core.clock import now, today
from app.core.db import db_session
from app.core.events import emit, subscribe
from app.core.text_search import normalize_for_search
from app.org.events import StaffImported
from app.org.models import Employee, Grade, Unit


class CatalogError(Exception):
    """A problem with a course edit, fit to show the user."""


# --- spec <-> row ----------------------------------------------------------------------------


def spec_from_course(course: Course) -> CourseSpec:
    return CourseSpec(
        code=course.code, kind=course.kind.value, title_ja=course.title_ja, title_en=course.title_en,
        track=course.track.value, theme=course.theme.value, delivery_format=course.delivery_format.value,
        hours=format(Decimal(course.hours).normalize(), "f"), fiscal_year=course.fiscal_year,
        target_grades=[g.code for g in course.target_grades],
        prerequisites=[p.code for p in course.prerequisites],
        min_attendance_pct=course.min_attendance_pct, quiz_pass_mark=course.quiz_pass_mark,
        survey_required=course.survey_required, body_md=course.body_md.strip() + "\n",
        items=[(item.course.code, item.is_required) for item in course.items],
        electives_required=course.electives_required, quiz=course.quiz_spec,
        status="draft" if course.status == CourseStatus.DRAFT else "published",
        rubrics=dict(course.rubrics or {}),
        modules=course.modules_spec,
        valid_for_months=course.valid_for_months,
    )


def export_course_file(course: Course) -> str:
    return render_course_file(spec_from_course(course))


def _search_text(spec: CourseSpec) -> str:
    return normalize_for_search(" ".join([spec.code, spec.title_ja, spec.title_en, spec.body_md]))


def _apply_spec(course: Course, spec: CourseSpec, grades: dict[str, Grade], courses: dict[str, Course]) -> None:
    course.code = spec.code
    course.kind = CourseKind(spec.kind)
    course.title_ja, course.title_en = spec.title_ja, spec.title_en
    course.track, course.theme = Track(spec.track), Theme(spec.theme)
    course.delivery_format = DeliveryFormat(spec.delivery_format)
    course.hours = Decimal(spec.hours)
    course.fiscal_year = spec.fiscal_year
    course.body_md = spec.body_md
    course.min_attendance_pct = spec.min_attendance_pct
    course.quiz_pass_mark = spec.quiz_pass_mark
    course.survey_required = spec.survey_required
    course.electives_required = spec.electives_required
    course.quiz_spec = spec.quiz
    course.rubrics = dict(spec.rubrics)
    course.modules_spec = spec.modules
    course.valid_for_months = spec.valid_for_months
    course.target_grades = [grades[code] for code in spec.target_grades]
    course.prerequisites = [courses[code] for code in spec.prerequisites]
    existing = {item.course_id: item for item in course.items}
    new_items = []
    for position, (code, required) in enumerate(spec.items, start=1):
        member = courses[code]
        item = existing.pop(member.id, None) or ProgrammeItem(course_id=member.id)
        item.course = member
        item.position, item.is_required = position, required
        new_items.append(item)
    course.items = new_items
    course.search_text = _search_text(spec)
    course.content_hash = spec.content_hash()
    course.updated_at = now()


def _record_version(course: Course, spec: CourseSpec, actor: Employee | None, note: str) -> None:
    db_session.add(CourseVersion(
        course_id=course.id, version=course.version, content_hash=course.content_hash,
        snapshot=spec.canonical(), change_note=note[:300], created_at=now(),
        created_by_id=actor.id if actor else None,
    ))


# --- sync from courses/ ----------------------------------------------------------------------


@dataclass(frozen=True)
class SyncConflict:
    """A file course edited on the web since its last sync, which the sync would overwrite (or retire)."""

    code: str
    file: str  # the file that would overwrite it ("" when its file is gone and it would be retired)
    edited_by: str  # the editor's name ("" when unknown: the person was deleted, or a command)
    edited_at: datetime


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    issues: list[FileIssue] = field(default_factory=list)
    conflicts: list[SyncConflict] = field(default_factory=list)  # refused (nothing applied) unless forced
    overwritten: list[SyncConflict] = field(default_factory=list)  # forced: web edits that were overwritten

    @property
    def ok(self) -> bool:
        return not self.issues and not self.conflicts


def read_catalog_dir(directory: Path, grade_codes: set[str]) -> tuple[list[tuple[str, CourseSpec]], list[FileIssue]]:
    specs: list[tuple[str, CourseSpec]] = []
    issues: list[FileIssue] = []
    for path in sorted(directory.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            issues.append(FileIssue(path.name, "file", "is not UTF-8 text"))
            continue
        spec, file_issues = parse_course_text(text, path.name, grade_codes)
        issues.extend(file_issues)
        if spec is not None:
            specs.append((path.name, spec))
    return specs, issues


def sync_catalog(directory: Path, actor: Employee | None = None, *, dry_run: bool = False,
                 force: bool = False) -> SyncReport:
    """Upsert every file's course by code. Any error in any file: nothing is applied.

    A course that came from a file and whose file is gone is retired (never deleted: enrolments
    point at it). Courses made in the web designer are left alone.

    A file course edited on the web since its last sync (`Course.web_edited_at`) is never
    overwritten (nor retired) silently: each such course is a `SyncConflict` naming it, who edited
    it and when, and, like an error, one conflict means nothing at all is applied — the run is all
    or nothing, so the catalog never ends half-synced. `force=True` overwrites the web edits (each
    one recorded in the audit log). A web edit that was exported and committed, so that the file
    now matches the course, is no conflict: the sync confirms it and clears the mark.
    """
    report = SyncReport()
    grades = {g.code: g for g in db_session.scalars(select(Grade))}
    specs, report.issues = read_catalog_dir(directory, set(grades))
    existing = {c.code: c for c in db_session.scalars(select(Course))}

    seen: dict[str, str] = {}
    for filename, spec in specs:
        if spec.code in seen:
            report.issues.append(FileIssue(filename, "code", f"{spec.code} is also used by {seen[spec.code]}"))
        seen[spec.code] = filename
        existing_course = existing.get(spec.code)
        if existing_course is not None and existing_course.source == CourseSource.WEB:
            report.issues.append(FileIssue(filename, "code",
                                           f"{spec.code} belongs to a course made in the web editor"))
    known = set(seen) | {code for code, c in existing.items() if c.status != CourseStatus.RETIRED and code not in seen
                         and c.source == CourseSource.WEB}
    for filename, spec in specs:
        for code in spec.prerequisites:
            if code not in known:
                report.issues.append(FileIssue(filename, "prerequisites", f"unknown course {code}"))
        for code, _required in spec.items:
            if code not in known:
                report.issues.append(FileIssue(filename, "courses", f"unknown course {code}"))
            elif code == spec.code:
                report.issues.append(FileIssue(filename, "courses", "a programme cannot contain itself"))
    if report.issues:
        return report

    timestamp = now()
    by_code = dict(existing)
    to_apply: list[tuple[Course, CourseSpec, str]] = []
    confirmed: list[tuple[Course, str]] = []  # unchanged, but a web edit (or an older sync) to settle
    for filename, spec in specs:
        course = by_code.get(spec.code)
        digest = spec.content_hash()
        if course is None:
            report.added.append(spec.code)
            course = Course(code=spec.code, status=CourseStatus.PUBLISHED, source=CourseSource.FILE,
                            version=1, created_at=timestamp, updated_at=timestamp, content_hash="")
            if not dry_run:
                course.kind = CourseKind(spec.kind)
                db_session.add(course)
                by_code[spec.code] = course
            to_apply.append((course, spec, "added"))
        elif course.content_hash == digest and course.status != CourseStatus.RETIRED:
            report.unchanged.append(spec.code)
            if course.web_edited_at is not None or course.synced_hash != digest:
                confirmed.append((course, digest))
        else:
            if course.web_edited_at is not None:
                report.conflicts.append(_conflict(course, filename))
            report.changed.append(spec.code)
            to_apply.append((course, spec, "changed"))
    to_retire = [course for code, course in existing.items()
                 if code not in seen and course.source == CourseSource.FILE and course.status != CourseStatus.RETIRED]
    report.conflicts += [_conflict(course, "") for course in to_retire if course.web_edited_at is not None]
    report.retired = [course.code for course in to_retire]
    if force:
        report.overwritten, report.conflicts = report.conflicts, []
    if dry_run or report.conflicts:
        return report

    for conflict in report.overwritten:
        overwritten = by_code[conflict.code]
        record_event(actor, "catalog.web_edit_overwritten", "course", overwritten.id, summary=conflict.code,
                     before={"web_edited_by": conflict.edited_by, "web_edited_at": conflict.edited_at.isoformat(),
                             "version": overwritten.version})
    for course in to_retire:
        course.status = CourseStatus.RETIRED
        course.retired_at = timestamp
        _mark_synced(course, course.content_hash, timestamp)
        record_event(actor, "catalog.course_retired", "course", course.id, summary=course.code)
    for course, digest in confirmed:
        _mark_synced(course, digest, timestamp)
    # Two passes: every course exists before references between them are resolved.
    for course, spec, _ in to_apply:
        course.title_ja, course.title_en = spec.title_ja, spec.title_en
        course.track, course.theme = Track(spec.track), Theme(spec.theme)
        course.delivery_format, course.hours = DeliveryFormat(spec.delivery_format), Decimal(spec.hours)
        course.fiscal_year = spec.fiscal_year
    db_session.flush()
    for course, spec, action in to_apply:
        if action == "changed":
            course.version += 1
        course.status = CourseStatus.DRAFT if spec.status == "draft" else CourseStatus.PUBLISHED
        course.retired_at = None
        course.source_path = seen[spec.code]
        _apply_spec(course, spec, grades, by_code)
        _mark_synced(course, course.content_hash, timestamp)
        _record_version(course, spec, actor, f"sync: {action}")
        record_event(actor, f"catalog.course_{action}", "course", course.id,
                     summary=f"{spec.code} v{course.version} (sync)")
    db_session.flush()
    emit(CatalogSynced())
    return report


def _conflict(course: Course, filename: str) -> SyncConflict:
    assert course.web_edited_at is not None
    editor = course.web_edited_by.name if course.web_edited_by is not None else ""
    return SyncConflict(course.code, filename, editor, course.web_edited_at)


def _mark_synced(course: Course, digest: str, at: datetime) -> None:
    """The course now holds what its file says: remember when and what, and forget any web edit."""
    course.synced_at, course.synced_hash = at, digest
    course.web_edited_at, course.web_edited_by_id = None, None


def mark_web_edit(course: Course, actor: Employee | None) -> None:
    """A change made on the web to a course that comes from a file: the next sync must not
    overwrite it silently (see `sync_catalog`). The latest editor and time are kept."""
    if course.source == CourseSource.FILE:
        course.web_edited_at = now()
        course.web_edited_by_id = actor.id if actor is not None else None


# --- the curriculum designer -----------------------------------------------------------------


def save_course(actor: Employee, course: Course | None, spec: CourseSpec, note: str = "") -> Course:
    """Create or edit a course from the web designer; a new version when the content changed."""
    if course is not None and spec.modules is None:
        spec.modules = course.modules_spec  # the designer does not edit e-learning modules: they stay
    grades = {g.code: g for g in db_session.scalars(select(Grade))}
    referenced = {*spec.prerequisites, *(code for code, _ in spec.items), spec.code}
    courses = {c.code: c for c in db_session.scalars(select(Course).where(Course.code.in_(referenced)))}
    for code in [*spec.prerequisites, *(c for c, _ in spec.items)]:
        if code not in courses or code == spec.code:
            raise CatalogError(code)
    clash = courses.get(spec.code)
    if clash is not None and (course is None or clash.id != course.id):
        raise CatalogError(spec.code)
    timestamp = now()
    if course is None:
        course = Course(code=spec.code, kind=CourseKind(spec.kind), status=CourseStatus.DRAFT,
                        source=CourseSource.WEB, version=1, created_at=timestamp, updated_at=timestamp,
                        content_hash="")
        db_session.add(course)
        _fill_required(course, spec)
        db_session.flush()
        _apply_spec(course, spec, grades, courses)
        _record_version(course, spec, actor, note or "created")
        record_event(actor, "catalog.course_created", "course", course.id, summary=spec.code)
        return course
    if spec.content_hash() == course.content_hash:
        return course
    before = spec_from_course(course).canonical()
    spec.status = "draft" if course.status == CourseStatus.DRAFT else "published"
    course.version += 1
    _apply_spec(course, spec, grades, courses)
    mark_web_edit(course, actor)
    _record_version(course, spec, actor, note or "edited")
    record_event(actor, "catalog.course_edited", "course", course.id, summary=f"{spec.code} v{course.version}",
                 before={k: before[k] for k in ("title", "hours", "completion", "target_grades")},
                 after={k: spec.canonical()[k] for k in ("title", "hours", "completion", "target_grades")})
    return course


def _fill_required(course: Course, spec: CourseSpec) -> None:
    course.title_ja, course.title_en = spec.title_ja, spec.title_en
    course.track, course.theme = Track(spec.track), Theme(spec.theme)
    course.delivery_format, course.hours = DeliveryFormat(spec.delivery_format), Decimal(spec.hours)
    course.fiscal_year = spec.fiscal_year


def publish_course(actor: Employee, course: Course) -> None:
    if course.status == CourseStatus.PUBLISHED:
        return
    before = course.status.value
    course.status = CourseStatus.PUBLISHED
    course.retired_at = None
    course.content_hash = spec_from_course(course).content_hash()
    mark_web_edit(course, actor)
    record_event(actor, "catalog.course_published", "course", course.id,
                 before={"status": before}, after={"status": "published"}, summary=course.code)


def retire_course(actor: Employee, course: Course) -> None:
    if course.status == CourseStatus.RETIRED:
        return
    before = course.status.value
    course.status = CourseStatus.RETIRED
    course.retired_at = now()
    mark_web_edit(course, actor)
    record_event(actor, "catalog.course_retired", "course", course.id,
                 before={"status": before}, after={"status": "retired"}, summary=course.code)


def save_rubric(actor: Employee, course: Course, milestone: str, criteria: list[dict[str, Any]]) -> bool:
    """HR sets one milestone's rubric of a programme (an empty list removes it): a new version of
    the course, audited, and a web edit that the next sync will not overwrite silently.
    Returns False when nothing changed. The form checks field by field; this is the last word."""
    if not course.is_programme or milestone not in RUBRIC_MILESTONES:
        raise CatalogError(milestone)
    checked: list[dict[str, Any]] = []
    if criteria:
        checked, problems = check_rubric(criteria, f"rubrics.{milestone}")
        if problems:
            raise CatalogError("; ".join(f"{name}: {message}" for name, message in problems))
    rubrics = {key: value for key, value in (course.rubrics or {}).items() if key != milestone}
    if checked:
        rubrics[milestone] = checked
    rubrics = {key: rubrics[key] for key in RUBRIC_MILESTONES if key in rubrics}
    before = (course.rubrics or {}).get(milestone, [])
    if before == checked:
        return False
    course.rubrics = rubrics  # a new dict: the JSON column sees the change
    spec = spec_from_course(course)
    course.content_hash = spec.content_hash()
    course.version += 1
    course.updated_at = now()
    mark_web_edit(course, actor)
    _record_version(course, spec, actor, f"rubric: {milestone}")
    record_event(actor, "catalog.rubric_edited", "course", course.id, summary=f"{course.code} {milestone}",
                 before={"milestone": milestone, "criteria": before},
                 after={"milestone": milestone, "criteria": checked})
    return True


# --- assignment rules ------------------------------------------------------------------------


@dataclass
class AssignmentChanges:
    assigned: int = 0
    withdrawn: int = 0
    reinstated: int = 0


def create_assignment_rule(actor: Employee | None, course: Course, grade: Grade, fiscal_year: int, due_on: date,
                           departments: Iterable[Unit] = (), *, recurrence: Recurrence = Recurrence.NONE,
                           interval_months: int | None = None, previous_rule_id: int | None = None,
                           ) -> tuple[AssignmentRule, AssignmentChanges]:
    rule = AssignmentRule(course_id=course.id, grade_id=grade.id, fiscal_year=fiscal_year, due_on=due_on,
                          is_active=True, recurrence=recurrence,
                          interval_months=interval_months if recurrence == Recurrence.MONTHS else None,
                          previous_rule_id=previous_rule_id, created_at=now(),
                          created_by_id=actor.id if actor else None)
    rule.departments = list(departments)
    db_session.add(rule)
    db_session.flush()
    record_event(actor, "catalog.assignment_rule_created", "assignment_rule", rule.id,
                 after={"course": course.code, "grade": grade.code, "fiscal_year": fiscal_year,
                        "due_on": due_on.isoformat(), "departments": [u.code for u in rule.departments],
                        "recurrence": rule.recurrence.value, "interval_months": rule.interval_months})
    return rule, evaluate_rule(rule)


def deactivate_assignment_rule(actor: Employee, rule: AssignmentRule) -> None:
    rule.is_active = False
    record_event(actor, "catalog.assignment_rule_deactivated", "assignment_rule", rule.id)
    evaluate_rule(rule)


def rule_members(rule: AssignmentRule) -> set[int]:
    """The active employees a rule applies to now (its grade, within its departments if any)."""
    stmt = select(Employee.id).where(Employee.is_active.is_(True), Employee.grade_id == rule.grade_id)
    if rule.departments:
        stmt = stmt.join(Unit, Employee.unit_id == Unit.id).where(
            or_(*(Unit.path.startswith(d.path) for d in rule.departments)))
    return set(db_session.scalars(stmt))


def latest_assignments(rule_id: int) -> dict[int, Assignment]:
    """Each person's assignment of the rule's latest cycle they have (earlier cycles are history)."""
    latest: dict[int, Assignment] = {}
    for assignment in db_session.scalars(select(Assignment).where(Assignment.rule_id == rule_id)
                                         .order_by(Assignment.employee_id, Assignment.cycle)):
        latest[assignment.employee_id] = assignment
    return latest


def evaluate_rule(rule: AssignmentRule) -> AssignmentChanges:
    """Materialise a rule: assign everyone who matches now, withdraw those who no longer do.

    Withdrawn assignments stay as history and stop counting as owed; a person who comes back
    into the grade gets the same assignment reinstated. A newcomer to a repeating rule gets the
    cycle open today (app/catalog/recurrence.py); only each person's latest cycle moves here.
    """
    changes = AssignmentChanges()
    matching = rule_members(rule) if rule.is_active else set()
    existing = latest_assignments(rule.id)
    timestamp = now()
    schedule = schedule_of(rule)
    if matching - set(existing):
        cycle = schedule.current(today())
        for employee_id in matching - set(existing):
            db_session.add(Assignment(rule_id=rule.id, employee_id=employee_id, course_id=rule.course_id,
                                      fiscal_year=cycle.fiscal_year, cycle=cycle.number, opens_on=cycle.opens_on,
                                      due_on=cycle.due_on, status=AssignmentStatus.ACTIVE, assigned_at=timestamp))
            changes.assigned += 1
    for employee_id, assignment in existing.items():
        if assignment.status == AssignmentStatus.SUPERSEDED:
            continue  # a later cycle is opened by the cycle job, not here
        if employee_id in matching:
            if assignment.status == AssignmentStatus.WITHDRAWN:
                assignment.status, assignment.withdrawn_at = AssignmentStatus.ACTIVE, None
                changes.reinstated += 1
            if schedule.repeats or assignment.cycle == 1:
                assignment.due_on = schedule.cycle(assignment.cycle).due_on
        elif assignment.status == AssignmentStatus.ACTIVE:
            assignment.status, assignment.withdrawn_at = AssignmentStatus.WITHDRAWN, timestamp
            changes.withdrawn += 1
    db_session.flush()
    return changes


def register_subscribers() -> None:
    subscribe(StaffImported, _evaluate_after_import)


def _evaluate_after_import(event: StaffImported) -> None:
    evaluate_all_rules()


def evaluate_all_rules() -> AssignmentChanges:
    """Re-evaluate every rule (after a staff import: newcomers assigned, leavers withdrawn)."""
    total = AssignmentChanges()
    for rule in db_session.scalars(select(AssignmentRule)):
        changes = evaluate_rule(rule)
        total.assigned += changes.assigned
        total.withdrawn += changes.withdrawn
        total.reinstated += changes.reinstated
    return total
