"""scheduler job runs: how each scheduled job last went

One row per job name (deliver, scan, digest, jobs, retention), written by the scheduler after
every run that held the lease: when it started and finished, done or failed (the exception's
class name only), how long it took and when it last succeeded. The operator's page and the
per-job gauges of /metrics read it. A new table: nothing to carry over.

Revision ID: e7a1c0d3b6f2
Revises: e6fcbc2e5a66
Create Date: 2026-12-01 06:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'e7a1c0d3b6f2'
down_revision: str | Sequence[str] | None = 'e6fcbc2e5a66'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scheduler_job_runs',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=80), nullable=False),
    sa.Column('last_started_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_finished_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_outcome', sa.String(length=10), nullable=False),
    sa.Column('last_error', sa.String(length=100), nullable=False),
    sa.Column('last_duration_ms', sa.Integer(), nullable=False),
    sa.Column('last_success_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("last_outcome IN ('done', 'failed')", name=op.f('ck_scheduler_job_runs_last_outcome_known')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_job_runs'))
    )


def downgrade() -> None:
    op.drop_table('scheduler_job_runs')
