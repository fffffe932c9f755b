"""Taking a module at one's own pace: start, read pages (saved as one goes, so one resumes where
one left off), take the closing quiz, complete. A course whose self-paced modules are all
completed is complete (app/completion records it, so it gives a certificate and satisfies an
assignment like any other completion). The moves themselves are app/elearning/transitions.py."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from app.assessment.events import QuizGraded
from app.assessment.models import Quiz
from app.assessment.quizzes import quiz_for_course, self_paced_passed
from app.audit.services import record_event
from app.catalog.models import Course
from app.catalog.module_files import Module, modules_of
from app.completion.models import Completion
from app.completion.services import record_self_paced_completion
from app.core.clock import now
from app.core.db import db_session
from app.core.events import subscribe
from app.elearning import transitions
from app.elearning.media import CheckedMedia
from app.elearning.models import Media, ModuleProgress, PageView, ProgressState
from app.org.models import Employee
from app.web.locale import gettext as _


class ElearningError(Exception):
    """Why a module or page cannot be taken, fit to show."""


def module_of(course: Course, key: str) -> Module | None:
    return next((m for m in modules_of(course.modules_spec) if m.key == key), None)


def start_module(employee: Employee, course: Course, module: Module, at: datetime | None = None) -> ModuleProgress:
    """Begin the module (or return the progress already made: a second start changes nothing)."""
    at = at or now()
    progress = transitions.start(employee.id, course.id, module.key, at)
    if progress.started_at == at:
        record_event(employee, "elearning.module_started", "course", course.id, summary=f"{course.code}/{module.key}")
    return progress


@dataclass(frozen=True)
class PageRead:
    progress: ModuleProgress
    next_page: int | None  # the page to show next; None when this was the last one
    module_completed: bool  # this request completed the module (it has no quiz)
    completion: Completion | None  # this request completed the course


def read_page(employee: Employee, course: Course, module: Module, page_number: int,
              at: datetime | None = None) -> PageRead:
    """The person has read page `page_number` (a POST from the page's "next" button): saved once;
    when it was the last unread page, the pages are done (and the module too, without a quiz)."""
    if module.page(page_number) is None:
        raise ElearningError(_("This page does not exist."))
    at = at or now()
    progress = transitions.start(employee.id, course.id, module.key, at)
    transitions.lock_person_course(employee.id, course.id)
    db_session.refresh(progress)  # as committed by whoever held the lock before
    transitions.record_view(progress, page_number, at)
    last = len(module.pages)
    transitions.set_resume_page(progress, min(page_number + 1, last), at)
    completed_module, completion = False, None
    if progress.state == ProgressState.IN_PROGRESS and _all_read(progress, last):
        quiz = _module_quiz(course, module)
        if transitions.finish_pages(progress, at, has_quiz=quiz is not None):
            record_event(employee, "elearning.pages_read", "course", course.id, summary=f"{course.code}/{module.key}")
            if quiz is None:
                completed_module = True
            elif self_paced_passed(employee.id, quiz.id) and transitions.complete(progress, at):
                completed_module = True  # passed before (the pages changed since): nothing more to do
            if completed_module:
                completion = _after_module_completed(employee, course, progress)
    return PageRead(progress, page_number + 1 if page_number < last else None, completed_module, completion)


def _all_read(progress: ModuleProgress, pages: int) -> bool:
    read = db_session.scalar(select(func.count()).select_from(PageView).where(
        PageView.progress_id == progress.id, PageView.page_number <= pages))
    return (read or 0) >= pages


def _module_quiz(course: Course, module: Module) -> Quiz | None:
    """The course's quiz when it closes this module (and exists as a quiz row)."""
    return quiz_for_course(course.id) if module.has_quiz else None


def quiz_closed_because(progress: ModuleProgress | None) -> str | None:
    """Why the module's quiz cannot be taken now (its pages are not all read yet), or None."""
    if progress is None or progress.state == ProgressState.IN_PROGRESS:
        return _("Read every page of the module first; the quiz opens after the last one.")
    return None


def _after_module_completed(employee: Employee, course: Course, progress: ModuleProgress) -> Completion | None:
    """A module was completed (by this request alone): the course too, once every module that is
    not pre-study is."""
    record_event(employee, "elearning.module_completed", "course", course.id,
                 summary=f"{course.code}/{progress.module_key}")
    if progress.module_key not in {m.key for m in modules_of(course.modules_spec) if m.completes_course}:
        return None
    needed = {m.key for m in modules_of(course.modules_spec) if m.completes_course}
    done = set(db_session.scalars(select(ModuleProgress.module_key).where(
        ModuleProgress.employee_id == employee.id, ModuleProgress.course_id == course.id,
        ModuleProgress.state == ProgressState.COMPLETED)))
    if not needed <= done:
        return None
    return record_self_paced_completion(employee.id, course)


def _on_quiz_graded(event: QuizGraded) -> None:
    """A self-paced attempt was graded (on submission, or later by hand): a pass completes the module."""
    if event.enrolment_id is not None or not self_paced_passed(event.employee_id, event.quiz_id):
        return
    quiz = db_session.get(Quiz, event.quiz_id)
    course = db_session.get(Course, quiz.course_id) if quiz is not None else None
    employee = db_session.get(Employee, event.employee_id)
    if course is None or employee is None:
        return
    module = next((m for m in modules_of(course.modules_spec) if m.has_quiz), None)
    if module is None:
        return
    transitions.lock_person_course(employee.id, course.id)
    progress = db_session.scalar(select(ModuleProgress).where(
        ModuleProgress.employee_id == employee.id, ModuleProgress.course_id == course.id,
        ModuleProgress.module_key == module.key).execution_options(populate_existing=True))
    if progress is not None and transitions.complete(progress, now()):
        _after_module_completed(employee, course, progress)


def register_subscribers() -> None:
    subscribe(QuizGraded, _on_quiz_graded)


# --- media -----------------------------------------------------------------------------------


def store_media(actor: Employee | None, course: Course, checked: CheckedMedia, upload_dir: Path) -> Media:
    """Keep a file for the course's pages under a random name; a file of the same name is replaced
    (pages keep referring to it by name). Idempotent for the same bytes (the demo loads its files so)."""
    media = db_session.scalar(select(Media).where(Media.course_id == course.id, Media.name == checked.name))
    digest = hashlib.sha256(checked.data).hexdigest()
    if media is not None and media.sha256 == digest:
        return media
    folder = upload_dir / "elearning"
    folder.mkdir(parents=True, exist_ok=True)
    stored = secrets.token_hex(20)
    (folder / stored).write_bytes(checked.data)
    if media is None:
        media = Media(course_id=course.id, name=checked.name)
        db_session.add(media)
    # A replaced file stays on disk: should this transaction roll back, the row still names it.
    media.stored_name, media.content_type, media.size = stored, checked.content_type, len(checked.data)
    media.sha256 = digest
    media.uploaded_at, media.uploaded_by_id = now(), actor.id if actor else None
    db_session.flush()
    record_event(actor, "elearning.media_stored", "course", course.id, summary=f"{course.code}/{checked.name}")
    return media
