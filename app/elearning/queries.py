"""Reads of e-learning progress for the pages that show it (the module page, My learning, a
session's participant list), each a fixed number of statements."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.catalog.models import Course
from app.catalog.module_files import Module, modules_of
from app.core.db import db_session, rows_among
from app.elearning.models import Media, ModuleProgress, PageView, ProgressState


def progress_by_module(employee_id: int, course_id: int) -> dict[str, ModuleProgress]:
    """The person's progress in each module of the course they have begun, by module key."""
    return {p.module_key: p for p in db_session.scalars(select(ModuleProgress).where(
        ModuleProgress.employee_id == employee_id, ModuleProgress.course_id == course_id))}


def pages_read(progress: ModuleProgress | None) -> set[int]:
    if progress is None:
        return set()
    return set(db_session.scalars(select(PageView.page_number).where(PageView.progress_id == progress.id)))


@dataclass(frozen=True)
class PrestudyStatus:
    """Where one person stands with a course's pre-study modules."""

    done: int  # pre-study modules completed
    total: int
    started: bool

    @property
    def is_done(self) -> bool:
        return self.done >= self.total


def prestudy_modules(course: Course) -> list[Module]:
    return [m for m in modules_of(course.modules_spec) if m.before_session]


def prestudy_by_employee(course: Course, employee_ids: list[int]) -> dict[int, PrestudyStatus]:
    """For a session's participants: how far each is with the course's pre-study (one statement;
    nothing when the course has none)."""
    keys = {m.key for m in prestudy_modules(course)}
    if not keys or not employee_ids:
        return {}
    done: dict[int, int] = {}
    started: set[int] = set()
    stmt = select(ModuleProgress.employee_id, ModuleProgress.module_key, ModuleProgress.state).where(
        ModuleProgress.course_id == course.id, ModuleProgress.module_key.in_(sorted(keys)))
    for employee_id, _key, state in rows_among(stmt, ModuleProgress.employee_id, set(employee_ids)):
        started.add(employee_id)
        if state == ProgressState.COMPLETED:
            done[employee_id] = done.get(employee_id, 0) + 1
    return {employee_id: PrestudyStatus(done.get(employee_id, 0), len(keys), employee_id in started)
            for employee_id in employee_ids}


@dataclass(frozen=True)
class MyModule:
    course: Course
    module: Module
    progress: ModuleProgress


def my_modules(employee_id: int) -> list[MyModule]:
    """The modules the person has begun, unfinished first, then by when they last studied (one
    statement with the courses)."""
    rows = db_session.scalars(select(ModuleProgress).where(ModuleProgress.employee_id == employee_id)
                              .options(joinedload(ModuleProgress.course))
                              .order_by(ModuleProgress.updated_at.desc(), ModuleProgress.id.desc()))
    found: list[MyModule] = []
    for progress in rows:
        module = next((m for m in modules_of(progress.course.modules_spec) if m.key == progress.module_key), None)
        if module is not None:  # a module since removed from its course file is not shown
            found.append(MyModule(progress.course, module, progress))
    found.sort(key=lambda item: item.progress.state == ProgressState.COMPLETED)
    return found


def media_of(course_id: int) -> list[Media]:
    return list(db_session.scalars(select(Media).where(Media.course_id == course_id).order_by(Media.name)))


def media_named(course_id: int, name: str) -> Media | None:
    return db_session.scalar(select(Media).where(Media.course_id == course_id, Media.name == name))


def quizzes_due_for(employee_id: int, limit: int) -> tuple[list[MyModule], int]:
    """Modules whose pages the person has read and whose closing quiz is still to pass, the longest
    waiting first: the first `limit` with their courses, and how many (one statement)."""
    rows = db_session.execute(
        select(ModuleProgress, func.count().over().label("total"))
        .where(ModuleProgress.employee_id == employee_id, ModuleProgress.state == ProgressState.QUIZ_DUE)
        .options(joinedload(ModuleProgress.course))
        .order_by(ModuleProgress.pages_done_at, ModuleProgress.id).limit(limit)).unique().all()
    found = []
    for row in rows:
        progress = row.ModuleProgress
        module = next((m for m in modules_of(progress.course.modules_spec) if m.key == progress.module_key), None)
        if module is not None:  # a module since removed from its course file is not shown
            found.append(MyModule(progress.course, module, progress))
    return found, (rows[0].total if rows else 0)
