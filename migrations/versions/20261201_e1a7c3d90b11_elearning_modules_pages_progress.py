"""elearning modules pages progress: self-paced e-learning modules, pages, progress

A course's e-learning modules and their pages are written in its course file (`modules:`) and kept
with the course as `courses.modules_spec`, versioned like the rest of its content. Per person:

- `elearning_progress`: one row per (course, module, person), moved IN_PROGRESS → QUIZ_DUE →
  COMPLETED by guarded UPDATEs (app/elearning/transitions.py); `last_page` is where they resume.
- `elearning_page_views`: one row per page read (the primary key makes a second read a no-op).
- `elearning_media`: files the pages show, uploaded by HR, stored under random names.

A module's closing quiz is the course's quiz taken at one's own pace: such an attempt has no
enrolment, so `quiz_attempts.enrolment_id` becomes nullable and the attempt number is unique per
quiz and person among those attempts.

On SQLite batch mode makes that change by copying `quiz_attempts` and dropping the original, and
with foreign keys on that drop deletes every `quiz_answers` row (ON DELETE CASCADE): the answers
are kept aside in a temporary table and put back (tests/test_upgrade_from_previous_release.py).
`courses.modules_spec` goes by ALTER TABLE DROP COLUMN, never by a copy of `courses`, which
every course's sessions, enrolments and completions refer to.

Revision ID: e1a7c3d90b11
Revises: b3d9f1a2c6e4
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'e1a7c3d90b11'
down_revision: str | Sequence[str] | None = 'b3d9f1a2c6e4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SELF_PACED = "enrolment_id IS NULL"
KEPT_ANSWERS = "_e1a7c3d90b11_quiz_answers"


def _alter_quiz_attempts(change: Callable[[Any], None]) -> None:
    """Change quiz_attempts in batch mode without losing the answers that refer to it on SQLite."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    columns = ", ".join(f'"{column["name"]}"' for column in sa.inspect(bind).get_columns("quiz_answers"))
    if sqlite:
        op.execute(f"CREATE TEMP TABLE {KEPT_ANSWERS} AS SELECT {columns} FROM quiz_answers")
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        change(batch_op)
    if sqlite:  # the copy's DROP TABLE quiz_attempts emptied quiz_answers
        op.execute(f"INSERT INTO quiz_answers ({columns}) SELECT {columns} FROM {KEPT_ANSWERS}")
        op.execute(f"DROP TABLE {KEPT_ANSWERS}")


def upgrade() -> None:
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('modules_spec', sa.JSON(), nullable=True))

    op.create_table('elearning_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('module_key', sa.String(length=40), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('in_progress', 'quiz_due', 'completed', name='progressstate', native_enum=False,
                               create_constraint=True, length=20), nullable=False),
    sa.Column('last_page', sa.Integer(), nullable=False),
    sa.Column('started_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pages_done_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('last_page >= 1', name=op.f('ck_elearning_progress_last_page_positive')),
    sa.CheckConstraint("state <> 'completed' OR completed_at IS NOT NULL",
                       name=op.f('ck_elearning_progress_completed_has_time')),
    sa.CheckConstraint("state = 'in_progress' OR pages_done_at IS NOT NULL",
                       name=op.f('ck_elearning_progress_pages_done_has_time')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_elearning_progress_course_id_courses'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                            name=op.f('fk_elearning_progress_employee_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elearning_progress')),
    sa.UniqueConstraint('course_id', 'module_key', 'employee_id',
                        name=op.f('uq_elearning_progress_course_id_module_key_employee_id'))
    )
    with op.batch_alter_table('elearning_progress', schema=None) as batch_op:
        batch_op.create_index('ix_elearning_progress_course_module_state', ['course_id', 'module_key', 'state'],
                              unique=False)
        batch_op.create_index('ix_elearning_progress_employee', ['employee_id', 'state'], unique=False)

    op.create_table('elearning_page_views',
    sa.Column('progress_id', sa.Integer(), nullable=False),
    sa.Column('page_number', sa.Integer(), nullable=False),
    sa.Column('viewed_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('page_number >= 1', name=op.f('ck_elearning_page_views_page_number_positive')),
    sa.ForeignKeyConstraint(['progress_id'], ['elearning_progress.id'],
                            name=op.f('fk_elearning_page_views_progress_id_elearning_progress'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('progress_id', 'page_number', name=op.f('pk_elearning_page_views'))
    )

    op.create_table('elearning_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('content_type', sa.String(length=120), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_elearning_media_course_id_courses'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['employees.id'],
                            name=op.f('fk_elearning_media_uploaded_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elearning_media')),
    sa.UniqueConstraint('course_id', 'name', name=op.f('uq_elearning_media_course_id_name')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_elearning_media_stored_name'))
    )
    with op.batch_alter_table('elearning_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_elearning_media_course_id'), ['course_id'], unique=False)

    def nullable(batch_op: Any) -> None:
        batch_op.alter_column('enrolment_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('uq_quiz_attempts_self_paced', ['quiz_id', 'employee_id', 'attempt_no'], unique=True,
                              sqlite_where=sa.text(SELF_PACED), postgresql_where=sa.text(SELF_PACED))

    _alter_quiz_attempts(nullable)


def downgrade() -> None:
    # Self-paced attempts have no enrolment to belong to once the column is required again.
    op.execute(sa.text(f"DELETE FROM quiz_attempts WHERE {SELF_PACED}"))
    def required(batch_op: Any) -> None:
        batch_op.drop_index('uq_quiz_attempts_self_paced', sqlite_where=sa.text(SELF_PACED),
                            postgresql_where=sa.text(SELF_PACED))
        batch_op.alter_column('enrolment_id', existing_type=sa.Integer(), nullable=False)

    _alter_quiz_attempts(required)
    with op.batch_alter_table('elearning_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_elearning_media_course_id'))
    op.drop_table('elearning_media')
    op.drop_table('elearning_page_views')
    with op.batch_alter_table('elearning_progress', schema=None) as batch_op:
        batch_op.drop_index('ix_elearning_progress_employee')
        batch_op.drop_index('ix_elearning_progress_course_module_state')
    op.drop_table('elearning_progress')
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE courses DROP COLUMN modules_spec")
    else:
        op.drop_column('courses', 'modules_spec')
