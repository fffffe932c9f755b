"""background jobs

Long work (a 100,000-row staff import) runs as a queued row taken by the scheduler's job runner
(app/jobs): one guarded UPDATE claims it, progress and a heartbeat are written as it runs, and
the web page follows it. One job per dedupe key, so a double-clicked "apply" queues one import.

Revision ID: 2e8f1b0c4d32
Revises: 1d7e0a9b3c21
Create Date: 2026-11-30 13:00:00.000000+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '2e8f1b0c4d32'
down_revision: str | Sequence[str] | None = '1d7e0a9b3c21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('background_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'succeeded', 'failed', name='jobstate', native_enum=False,
                               create_constraint=True, length=20), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('phase', sa.String(length=40), nullable=False),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('claimed_by', sa.String(length=80), nullable=True),
    sa.Column('claimed_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'],
                            name=op.f('fk_background_jobs_created_by_id_employees'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_background_jobs')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_background_jobs_dedupe_key'))
    )
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_background_jobs_claim', ['state', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_background_jobs_created_by_id'), ['created_by_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_background_jobs_created_by_id'))
        batch_op.drop_index('ix_background_jobs_claim')
    op.drop_table('background_jobs')
