"""course plans and half-year reports

Revision ID: 7ec636873587
Revises: 159db898e397
Create Date: 2026-11-24 09:23:12.628669+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '7ec636873587'
down_revision: str | Sequence[str] | None = '159db898e397'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('course_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('planned', sa.Integer(), nullable=False),
    sa.CheckConstraint('planned >= 0', name=op.f('ck_course_plans_planned_non_negative')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_plans_course_id_courses'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course_plans')),
    sa.UniqueConstraint('course_id', 'fiscal_year', name=op.f('uq_course_plans_course_id_fiscal_year'))
    )
    op.create_table('half_year_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('half', sa.Integer(), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=True),
    sa.Column('published_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.Column('public_slug', sa.String(length=40), nullable=True),
    sa.CheckConstraint('half IN (1, 2)', name=op.f('ck_half_year_reports_half_valid')),
    sa.ForeignKeyConstraint(['published_by_id'], ['employees.id'],
                            name=op.f('fk_half_year_reports_published_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_half_year_reports')),
    sa.UniqueConstraint('fiscal_year', 'half', name=op.f('uq_half_year_reports_fiscal_year_half')),
    sa.UniqueConstraint('public_slug', name=op.f('uq_half_year_reports_public_slug'))
    )


def downgrade() -> None:
    op.drop_table('half_year_reports')
    op.drop_table('course_plans')
