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

Revision ID: e1a7c3d90b11
Revises: b3d9f1a2c6e4
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'e1a7c3d90b11'
down_revision: str | Sequence[str] | None = 'b3d9f1a2c6e4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SELF_PACED = "enrolment_id IS NULL"


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

    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.alter_column('enrolment_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('uq_quiz_attempts_self_paced', ['quiz_id', 'employee_id', 'attempt_no'], unique=True,
                              sqlite_where=sa.text(SELF_PACED), postgresql_where=sa.text(SELF_PACED))


def downgrade() -> None:
    # Self-paced attempts have no enrolment to belong to once the column is required again.
    op.execute(sa.text(f"DELETE FROM quiz_attempts WHERE {SELF_PACED}"))
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_index('uq_quiz_attempts_self_paced', sqlite_where=sa.text(SELF_PACED),
                            postgresql_where=sa.text(SELF_PACED))
        batch_op.alter_column('enrolment_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('elearning_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_elearning_media_course_id'))
    op.drop_table('elearning_media')
    op.drop_table('elearning_page_views')
    with op.batch_alter_table('elearning_progress', schema=None) as batch_op:
        batch_op.drop_index('ix_elearning_progress_employee')
        batch_op.drop_index('ix_elearning_progress_course_module_state')
    op.drop_table('elearning_progress')
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_column('modules_spec')
