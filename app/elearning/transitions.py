"""The state machine of a person's progress through a module. Every move is one guarded
statement here, so two tabs finishing the last page (or a double click) take effect once::

    start (a POST) ──► IN_PROGRESS ──every page read──► QUIZ_DUE ──quiz passed──► COMPLETED
                            │                                                      ▲
                            └──────────every page read, the module has no quiz─────┘

    start:  INSERT, unique (course, module, person): the loser of a race reads the winner's row.
    read:   INSERT of (progress, page), its primary key makes a second read of a page a no-op;
            `last_page` (where to resume) is not a state and is simply written.
    → QUIZ_DUE / → COMPLETED: `UPDATE elearning_progress SET state = … WHERE id = :id AND
            state = :from`; only the request whose UPDATE changed the row goes on (and records
            the course's completion).

Writes for one person and course run under `lock_person_course` (their progress rows locked,
in id order, to commit; SQLite's writer lock): a page read in one tab and the last page read in
another then cannot both miss each other's row and leave the module unfinished.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import attributes

from app.core.db import db_session, rows_changed
from app.elearning.models import ModuleProgress, PageView, ProgressState


def lock_person_course(employee_id: int, course_id: int) -> None:
    """Lock the person's progress rows of the course (held to commit), in id order."""
    db_session.execute(select(ModuleProgress.id).where(
        ModuleProgress.employee_id == employee_id, ModuleProgress.course_id == course_id)
        .order_by(ModuleProgress.id).with_for_update()).all()


def start(employee_id: int, course_id: int, module_key: str, at: datetime) -> ModuleProgress:
    """The person's progress in the module, begun now if it was not (once, whatever the race)."""
    found = _progress(employee_id, course_id, module_key)
    if found is not None:
        return found
    progress = ModuleProgress(course_id=course_id, module_key=module_key, employee_id=employee_id,
                              state=ProgressState.IN_PROGRESS, last_page=1, started_at=at, updated_at=at)
    try:
        with db_session.begin_nested():
            db_session.add(progress)
            db_session.flush()
    except IntegrityError:  # another tab began it at the same moment: theirs is the one
        found = _progress(employee_id, course_id, module_key)
        assert found is not None
        return found
    return progress


def _progress(employee_id: int, course_id: int, module_key: str) -> ModuleProgress | None:
    return db_session.scalar(select(ModuleProgress).where(
        ModuleProgress.employee_id == employee_id, ModuleProgress.course_id == course_id,
        ModuleProgress.module_key == module_key).execution_options(populate_existing=True))


def record_view(progress: ModuleProgress, page_number: int, at: datetime) -> bool:
    """Page read (once): True if this was the first time."""
    exists = db_session.scalar(select(PageView.page_number).where(
        PageView.progress_id == progress.id, PageView.page_number == page_number))
    if exists is not None:
        return False
    try:
        with db_session.begin_nested():
            db_session.add(PageView(progress_id=progress.id, page_number=page_number, viewed_at=at))
            db_session.flush()
    except IntegrityError:
        return False
    return True


def set_resume_page(progress: ModuleProgress, page_number: int, at: datetime) -> None:
    """Where the person resumes (not a state: the last write wins, as the person last left it)."""
    values = {"last_page": page_number, "updated_at": at}
    db_session.execute(update(ModuleProgress).where(ModuleProgress.id == progress.id).values(**values)
                       .execution_options(synchronize_session=False))
    _set_loaded(progress, values)


def finish_pages(progress: ModuleProgress, at: datetime, *, has_quiz: bool) -> bool:
    """IN_PROGRESS → QUIZ_DUE (or COMPLETED when the module has no quiz), once: True for the winner."""
    values: dict[str, object] = {"state": ProgressState.QUIZ_DUE if has_quiz else ProgressState.COMPLETED,
                                 "pages_done_at": at, "updated_at": at}
    if not has_quiz:
        values["completed_at"] = at
    return _move(progress, ProgressState.IN_PROGRESS, values)


def complete(progress: ModuleProgress, at: datetime) -> bool:
    """QUIZ_DUE → COMPLETED (the quiz was passed), once: True for the winner."""
    return _move(progress, ProgressState.QUIZ_DUE,
                 {"state": ProgressState.COMPLETED, "completed_at": at, "updated_at": at})


def _move(progress: ModuleProgress, from_state: ProgressState, values: dict[str, object]) -> bool:
    moved = rows_changed(db_session.execute(
        update(ModuleProgress).where(ModuleProgress.id == progress.id, ModuleProgress.state == from_state)
        .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        db_session.refresh(progress)
        return False
    _set_loaded(progress, values)
    return True


def _set_loaded(row: ModuleProgress, values: dict[str, object]) -> None:
    for key, value in values.items():
        attributes.set_committed_value(row, key, value)
