"""Progress through e-learning modules and the media their pages show.

The modules and pages themselves are the course's `modules_spec` (written in its course file,
app/catalog/module_files.py), versioned with the course; what is stored here is per person: one
progress row per (course, module, person) and one row per page they have read."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Course
from app.core.db import Base, enum_column
from app.org.models import Employee


class ProgressState(enum.StrEnum):
    IN_PROGRESS = "in_progress"  # reading the pages
    QUIZ_DUE = "quiz_due"  # every page read; the module's quiz is still to pass
    COMPLETED = "completed"


class ModuleProgress(Base):
    """One person's way through one module. `last_page` is where they resume."""

    __tablename__ = "elearning_progress"
    __table_args__ = (
        UniqueConstraint("course_id", "module_key", "employee_id"),
        Index("ix_elearning_progress_course_module_state", "course_id", "module_key", "state"),
        Index("ix_elearning_progress_employee", "employee_id", "state"),
        CheckConstraint("last_page >= 1", name="last_page_positive"),
        CheckConstraint("state <> 'completed' OR completed_at IS NOT NULL", name="completed_has_time"),
        CheckConstraint("state = 'in_progress' OR pages_done_at IS NOT NULL", name="pages_done_has_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    module_key: Mapped[str] = mapped_column(String(40))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    state: Mapped[ProgressState] = mapped_column(enum_column(ProgressState))
    last_page: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    pages_done_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship()
    employee: Mapped[Employee] = relationship()


class PageView(Base):
    """That a person has read a page of a module (once; the first time is kept)."""

    __tablename__ = "elearning_page_views"
    __table_args__ = (CheckConstraint("page_number >= 1", name="page_number_positive"),)

    progress_id: Mapped[int] = mapped_column(ForeignKey("elearning_progress.id", ondelete="CASCADE"),
                                             primary_key=True)
    page_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    viewed_at: Mapped[datetime]


class Media(Base):
    """A file a course's pages show (an image, a video, a PDF handout), uploaded by HR and served
    from this host only. Pages refer to it by `name` (media/NAME); it is stored under a random name."""

    __tablename__ = "elearning_media"
    __table_args__ = (UniqueConstraint("course_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(120))  # detected from the bytes
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
