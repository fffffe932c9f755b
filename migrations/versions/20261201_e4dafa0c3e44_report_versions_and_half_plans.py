"""report versions and half plans: H-statistics: half-year report versions/errata, plans per half

- `half_year_reports` holds versions: a published report can be corrected by a new version
  (`version` n+1, `previous_id` → the one it corrects, `correction_reason`), the old one is kept
  and marked `superseded_at`. One row per (year, half, version); one correction per version.
- `course_plans.half`: 0 for the annual plan (every existing plan), 1 for 上期, 2 for 下期.

Revision ID: e4dafa0c3e44
Revises: e3c9e5fb2d33
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'e4dafa0c3e44'
down_revision: str | Sequence[str] | None = 'e3c9e5fb2d33'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ERRATUM = ("(version = 1 AND previous_id IS NULL AND correction_reason IS NULL) OR "
           "(version > 1 AND previous_id IS NOT NULL AND correction_reason IS NOT NULL "
           "AND published_at IS NOT NULL)")


def upgrade() -> None:
    with op.batch_alter_table('half_year_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('previous_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('correction_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('superseded_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('uq_half_year_reports_fiscal_year_half'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_half_year_reports_fiscal_year_half_version'),
                                          ['fiscal_year', 'half', 'version'])
        batch_op.create_unique_constraint(op.f('uq_half_year_reports_previous_id'), ['previous_id'])
        batch_op.create_foreign_key(op.f('fk_half_year_reports_previous_id_half_year_reports'), 'half_year_reports',
                                    ['previous_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_half_year_reports_version_positive'), 'version >= 1')
        batch_op.create_check_constraint(op.f('ck_half_year_reports_erratum_names_previous'), ERRATUM)
        batch_op.create_check_constraint(op.f('ck_half_year_reports_superseded_only_if_published'),
                                         'superseded_at IS NULL OR published_at IS NOT NULL')
        batch_op.create_check_constraint(op.f('ck_half_year_reports_published_has_slug'),
                                         'published_at IS NULL OR public_slug IS NOT NULL')
    with op.batch_alter_table('course_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('half', sa.Integer(), server_default='0', nullable=False))
        batch_op.drop_constraint(op.f('uq_course_plans_course_id_fiscal_year'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_course_plans_course_id_fiscal_year_half'),
                                          ['course_id', 'fiscal_year', 'half'])
        batch_op.create_check_constraint(op.f('ck_course_plans_half_valid'), 'half IN (0, 1, 2)')


def downgrade() -> None:
    # Half plans and corrections have no place in the old schema: they are dropped, and of a
    # corrected report only its first version stays.
    op.execute("DELETE FROM course_plans WHERE half <> 0")
    with op.batch_alter_table('course_plans', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_course_plans_half_valid'), type_='check')
        batch_op.drop_constraint(op.f('uq_course_plans_course_id_fiscal_year_half'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_course_plans_course_id_fiscal_year'), ['course_id', 'fiscal_year'])
        batch_op.drop_column('half')
    op.execute("DELETE FROM half_year_reports WHERE version > 1")
    with op.batch_alter_table('half_year_reports', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_half_year_reports_published_has_slug'), type_='check')
        batch_op.drop_constraint(op.f('ck_half_year_reports_superseded_only_if_published'), type_='check')
        batch_op.drop_constraint(op.f('ck_half_year_reports_erratum_names_previous'), type_='check')
        batch_op.drop_constraint(op.f('ck_half_year_reports_version_positive'), type_='check')
        batch_op.drop_constraint(op.f('fk_half_year_reports_previous_id_half_year_reports'), type_='foreignkey')
        batch_op.drop_constraint(op.f('uq_half_year_reports_previous_id'), type_='unique')
        batch_op.drop_constraint(op.f('uq_half_year_reports_fiscal_year_half_version'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_half_year_reports_fiscal_year_half'), ['fiscal_year', 'half'])
        batch_op.drop_column('superseded_at')
        batch_op.drop_column('correction_reason')
        batch_op.drop_column('previous_id')
        batch_op.drop_column('version')
