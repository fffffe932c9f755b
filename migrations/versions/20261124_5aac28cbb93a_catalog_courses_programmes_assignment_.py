"""catalog courses programmes assignment rules

Revision ID: 5aac28cbb93a
Revises: c2d9f902d4e4
Create Date: 2026-11-24 08:38:34.950509+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '5aac28cbb93a'
down_revision: str | Sequence[str] | None = 'c2d9f902d4e4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('courses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.Enum('course', 'programme', name='coursekind', native_enum=False, create_constraint=True,
                              length=20), nullable=False),
    sa.Column('title_ja', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('track', sa.Enum('grade_training', 'cohort_programme', 'elective', name='track', native_enum=False,
                               create_constraint=True, length=20), nullable=False),
    sa.Column('theme', sa.Enum('smart_government', 'smart_workstyle', 'smart_solutions', 'general', name='theme',
                               native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('delivery_format',
              sa.Enum('classroom', 'online', 'elearning', 'fieldwork', 'blended', name='deliveryformat',
                      native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('hours', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('body_md', sa.Text(), nullable=False),
    sa.Column('min_attendance_pct', sa.Integer(), nullable=False),
    sa.Column('quiz_pass_mark', sa.Integer(), nullable=True),
    sa.Column('survey_required', sa.Boolean(), nullable=False),
    sa.Column('electives_required', sa.Integer(), nullable=False),
    sa.Column('quiz_spec', sa.JSON(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'published', 'retired', name='coursestatus', native_enum=False,
                                create_constraint=True, length=20), nullable=False),
    sa.Column('source', sa.Enum('file', 'web', name='coursesource', native_enum=False, create_constraint=True,
                                length=20), nullable=False),
    sa.Column('source_path', sa.String(length=300), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('electives_required >= 0', name=op.f('ck_courses_electives_non_negative')),
    sa.CheckConstraint('hours >= 0', name=op.f('ck_courses_hours_non_negative')),
    sa.CheckConstraint('min_attendance_pct BETWEEN 0 AND 100', name=op.f('ck_courses_attendance_pct_range')),
    sa.CheckConstraint('quiz_pass_mark IS NULL OR quiz_pass_mark BETWEEN 0 AND 100',
                       name=op.f('ck_courses_pass_mark_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_courses')),
    sa.UniqueConstraint('code', name=op.f('uq_courses_code'))
    )
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.create_index('ix_courses_catalog', ['status', 'fiscal_year', 'track'], unique=False)
        batch_op.create_index(batch_op.f('ix_courses_fiscal_year'), ['fiscal_year'], unique=False)

    op.create_table('course_prerequisites',
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('prerequisite_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('course_id <> prerequisite_id', name=op.f('ck_course_prerequisites_not_self')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_prerequisites_course_id_courses'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prerequisite_id'], ['courses.id'],
                            name=op.f('fk_course_prerequisites_prerequisite_id_courses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('course_id', 'prerequisite_id', name=op.f('pk_course_prerequisites'))
    )
    op.create_table('course_target_grades',
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('grade_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_target_grades_course_id_courses'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grade_id'], ['grades.id'], name=op.f('fk_course_target_grades_grade_id_grades'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('course_id', 'grade_id', name=op.f('pk_course_target_grades'))
    )
    op.create_table('programme_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('is_required', sa.Boolean(), nullable=False),
    sa.CheckConstraint('programme_id <> course_id', name=op.f('ck_programme_items_not_self')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_programme_items_course_id_courses')),
    sa.ForeignKeyConstraint(['programme_id'], ['courses.id'], name=op.f('fk_programme_items_programme_id_courses'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_items')),
    sa.UniqueConstraint('programme_id', 'course_id', name=op.f('uq_programme_items_programme_id_course_id'))
    )
    with op.batch_alter_table('programme_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_items_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_items_programme_id'), ['programme_id'], unique=False)

    op.create_table('assignment_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('grade_id', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_assignment_rules_course_id_courses')),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'],
                            name=op.f('fk_assignment_rules_created_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['grade_id'], ['grades.id'], name=op.f('fk_assignment_rules_grade_id_grades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_rules')),
    sa.UniqueConstraint('course_id', 'grade_id', 'fiscal_year',
                        name=op.f('uq_assignment_rules_course_id_grade_id_fiscal_year'))
    )
    with op.batch_alter_table('assignment_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_rules_course_id'), ['course_id'], unique=False)

    op.create_table('course_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('change_note', sa.String(length=300), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_versions_course_id_courses'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'],
                            name=op.f('fk_course_versions_created_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_versions')),
    sa.UniqueConstraint('course_id', 'version', name=op.f('uq_course_versions_course_id_version'))
    )
    with op.batch_alter_table('course_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_versions_course_id'), ['course_id'], unique=False)

    op.create_table('assignment_rule_departments',
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['assignment_rules.id'],
                            name=op.f('fk_assignment_rule_departments_rule_id_assignment_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_assignment_rule_departments_unit_id_units'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', 'unit_id', name=op.f('pk_assignment_rule_departments'))
    )
    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('active', 'withdrawn', name='assignmentstatus', native_enum=False,
                                create_constraint=True, length=20), nullable=False),
    sa.Column('assigned_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_assignments_course_id_courses')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_assignments_employee_id_employees'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['assignment_rules.id'], name=op.f('fk_assignments_rule_id_assignment_rules'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments')),
    sa.UniqueConstraint('rule_id', 'employee_id', name=op.f('uq_assignments_rule_id_employee_id'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_course_status', ['course_id', 'status'], unique=False)
        batch_op.create_index('ix_assignments_employee_status', ['employee_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_employee_status')
        batch_op.drop_index('ix_assignments_course_status')

    op.drop_table('assignments')
    op.drop_table('assignment_rule_departments')
    with op.batch_alter_table('course_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_versions_course_id'))

    op.drop_table('course_versions')
    with op.batch_alter_table('assignment_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_rules_course_id'))

    op.drop_table('assignment_rules')
    with op.batch_alter_table('programme_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_items_programme_id'))
        batch_op.drop_index(batch_op.f('ix_programme_items_course_id'))

    op.drop_table('programme_items')
    op.drop_table('course_target_grades')
    op.drop_table('course_prerequisites')
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_courses_fiscal_year'))
        batch_op.drop_index('ix_courses_catalog')

    op.drop_table('courses')
