"""cohorts applications teams milestones submissions

Revision ID: 159db898e397
Revises: 507a8f42c6ec
Create Date: 2026-11-24 09:15:33.592607+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '159db898e397'
down_revision: str | Sequence[str] | None = '507a8f42c6ec'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cohorts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('applications_open_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applications_close_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('selected_count', sa.Integer(), nullable=False),
    sa.Column('requires_endorsement', sa.Boolean(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('min_attendance_pct', sa.Integer(), nullable=False),
    sa.Column('final_score_bar', sa.Integer(), nullable=False),
    sa.Column('results_published_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('applications_close_at > applications_open_at', name=op.f('ck_cohorts_window_ordered')),
    sa.CheckConstraint('quota > 0', name=op.f('ck_cohorts_quota_positive')),
    sa.CheckConstraint('selected_count >= 0 AND selected_count <= quota',
                       name=op.f('ck_cohorts_selected_within_quota')),
    sa.ForeignKeyConstraint(['programme_id'], ['courses.id'], name=op.f('fk_cohorts_programme_id_courses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohorts')),
    sa.UniqueConstraint('programme_id', 'fiscal_year', 'name', name=op.f('uq_cohorts_programme_id_fiscal_year_name'))
    )
    op.create_table('cohort_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('theme', sa.String(length=40), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('is_withdrawn', sa.Boolean(), nullable=False),
    sa.Column('endorsement', sa.Enum('pending', 'endorsed', 'declined', name='endorsement', native_enum=False,
                                     create_constraint=True, length=20), nullable=False),
    sa.Column('endorsed_by_id', sa.Integer(), nullable=True),
    sa.Column('endorsement_comment', sa.String(length=1000), nullable=False),
    sa.Column('decision', sa.Enum('undecided', 'selected', 'reserve', 'declined', name='decision', native_enum=False,
                                  create_constraint=True, length=20), nullable=False),
    sa.Column('reserve_rank', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_cohort_applications_cohort_id_cohorts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['employees.id'],
                            name=op.f('fk_cohort_applications_decided_by_id_employees')),
    sa.ForeignKeyConstraint(['department_id'], ['units.id'], name=op.f('fk_cohort_applications_department_id_units')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                            name=op.f('fk_cohort_applications_employee_id_employees')),
    sa.ForeignKeyConstraint(['endorsed_by_id'], ['employees.id'],
                            name=op.f('fk_cohort_applications_endorsed_by_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_applications')),
    sa.UniqueConstraint('cohort_id', 'employee_id', name=op.f('uq_cohort_applications_cohort_id_employee_id'))
    )
    with op.batch_alter_table('cohort_applications', schema=None) as batch_op:
        batch_op.create_index('ix_cohort_applications_cohort_decision', ['cohort_id', 'decision'], unique=False)

    op.create_table('cohort_department_caps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('cap', sa.Integer(), nullable=False),
    sa.Column('selected_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('cap >= 0', name=op.f('ck_cohort_department_caps_cap_non_negative')),
    sa.CheckConstraint('selected_count >= 0 AND selected_count <= cap',
                       name=op.f('ck_cohort_department_caps_selected_within_cap')),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_cohort_department_caps_cohort_id_cohorts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_cohort_department_caps_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_department_caps')),
    sa.UniqueConstraint('cohort_id', 'unit_id', name=op.f('uq_cohort_department_caps_cohort_id_unit_id'))
    )
    op.create_table('cohort_eligible_grades',
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('grade_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_cohort_eligible_grades_cohort_id_cohorts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grade_id'], ['grades.id'], name=op.f('fk_cohort_eligible_grades_grade_id_grades'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cohort_id', 'grade_id', name=op.f('pk_cohort_eligible_grades'))
    )
    op.create_table('cohort_milestones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('plan', 'interim', 'final_report', 'presentation', name='milestonekind',
                              native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('due_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('per_team', sa.Boolean(), nullable=False),
    sa.Column('rubric', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_cohort_milestones_cohort_id_cohorts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_milestones')),
    sa.UniqueConstraint('cohort_id', 'kind', name=op.f('uq_cohort_milestones_cohort_id_kind'))
    )
    with op.batch_alter_table('cohort_milestones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_milestones_cohort_id'), ['cohort_id'], unique=False)

    op.create_table('fieldwork_teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('host_unit_id', sa.Integer(), nullable=False),
    sa.Column('theme', sa.String(length=40), nullable=False),
    sa.Column('problem', sa.Text(), nullable=False),
    sa.Column('abstract', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_fieldwork_teams_cohort_id_cohorts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['host_unit_id'], ['units.id'], name=op.f('fk_fieldwork_teams_host_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fieldwork_teams')),
    sa.UniqueConstraint('cohort_id', 'name', name=op.f('uq_fieldwork_teams_cohort_id_name'))
    )
    with op.batch_alter_table('fieldwork_teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fieldwork_teams_cohort_id'), ['cohort_id'], unique=False)

    op.create_table('cohort_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('employee_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=False),
    sa.Column('submitted_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_late', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('submitted', 'returned', 'accepted', name='submissionstatus', native_enum=False,
                                create_constraint=True, length=20), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                            name=op.f('fk_cohort_submissions_employee_id_employees')),
    sa.ForeignKeyConstraint(['milestone_id'], ['cohort_milestones.id'],
                            name=op.f('fk_cohort_submissions_milestone_id_cohort_milestones'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['employees.id'],
                            name=op.f('fk_cohort_submissions_submitted_by_id_employees')),
    sa.ForeignKeyConstraint(['team_id'], ['fieldwork_teams.id'],
                            name=op.f('fk_cohort_submissions_team_id_fieldwork_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_submissions')),
    sa.UniqueConstraint('milestone_id', 'team_id', 'employee_id', 'version',
                        name=op.f('uq_cohort_submissions_milestone_id_team_id_employee_id_version'))
    )
    with op.batch_alter_table('cohort_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_cohort_submissions_milestone', ['milestone_id', 'team_id', 'employee_id'],
                              unique=False)

    op.create_table('fieldwork_team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_fieldwork_team_members_cohort_id_cohorts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                            name=op.f('fk_fieldwork_team_members_employee_id_employees')),
    sa.ForeignKeyConstraint(['team_id'], ['fieldwork_teams.id'],
                            name=op.f('fk_fieldwork_team_members_team_id_fieldwork_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fieldwork_team_members')),
    sa.UniqueConstraint('cohort_id', 'employee_id', name=op.f('uq_fieldwork_team_members_cohort_id_employee_id'))
    )
    with op.batch_alter_table('fieldwork_team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fieldwork_team_members_team_id'), ['team_id'], unique=False)

    op.create_table('fieldwork_team_mentors',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                            name=op.f('fk_fieldwork_team_mentors_employee_id_employees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['fieldwork_teams.id'],
                            name=op.f('fk_fieldwork_team_mentors_team_id_fieldwork_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', 'employee_id', name=op.f('pk_fieldwork_team_mentors'))
    )
    op.create_table('cohort_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('mentor_id', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('max_points', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mentor_id'], ['employees.id'], name=op.f('fk_cohort_reviews_mentor_id_employees')),
    sa.ForeignKeyConstraint(['submission_id'], ['cohort_submissions.id'],
                            name=op.f('fk_cohort_reviews_submission_id_cohort_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_reviews'))
    )
    with op.batch_alter_table('cohort_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_reviews_submission_id'), ['submission_id'], unique=False)

    op.create_table('cohort_submission_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('content_type', sa.String(length=120), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['cohort_submissions.id'],
                            name=op.f('fk_cohort_submission_files_submission_id_cohort_submissions'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_submission_files')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_cohort_submission_files_stored_name'))
    )
    with op.batch_alter_table('cohort_submission_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_submission_files_submission_id'), ['submission_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cohort_submission_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_submission_files_submission_id'))

    op.drop_table('cohort_submission_files')
    with op.batch_alter_table('cohort_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_reviews_submission_id'))

    op.drop_table('cohort_reviews')
    op.drop_table('fieldwork_team_mentors')
    with op.batch_alter_table('fieldwork_team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fieldwork_team_members_team_id'))

    op.drop_table('fieldwork_team_members')
    with op.batch_alter_table('cohort_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_cohort_submissions_milestone')

    op.drop_table('cohort_submissions')
    with op.batch_alter_table('fieldwork_teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fieldwork_teams_cohort_id'))

    op.drop_table('fieldwork_teams')
    with op.batch_alter_table('cohort_milestones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_milestones_cohort_id'))

    op.drop_table('cohort_milestones')
    op.drop_table('cohort_eligible_grades')
    op.drop_table('cohort_department_caps')
    with op.batch_alter_table('cohort_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_cohort_applications_cohort_decision')

    op.drop_table('cohort_applications')
    op.drop_table('cohorts')
