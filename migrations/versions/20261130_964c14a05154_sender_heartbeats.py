"""sender heartbeats

Each reminder sender writes a row with its claims and renews it while it sends; a dead sender's
claims go back once its row has expired (SCHEDULER_LEASE_SECONDS), instead of after a fixed ten
minutes counted from the claim (app/reminders/delivery.py).

Revision ID: 964c14a05154
Revises: a7c3e91f5b20
Create Date: 2026-11-30 15:00:00.000000+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '964c14a05154'
down_revision: str | Sequence[str] | None = 'a7c3e91f5b20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sender_heartbeats',
    sa.Column('worker', sa.String(length=80), nullable=False),
    sa.Column('expires_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker', name=op.f('pk_sender_heartbeats'))
    )


def downgrade() -> None:
    op.drop_table('sender_heartbeats')
