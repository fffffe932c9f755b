"""outbox claim order index

Revision ID: 3f1c9b7e2a64
Revises: 7ac2ce00a55e
Create Date: 2026-11-24 12:20:00.000000+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '3f1c9b7e2a64'
down_revision: str | Sequence[str] | None = '7ac2ce00a55e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The claim reads pending rows in (due_at, id) order: with id in the index, PostgreSQL stops
    # after one batch instead of sorting every pending row that shares a due time (SQLite's
    # indexes end in the rowid already).
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_due')
        batch_op.create_index('ix_notifications_due', ['status', 'due_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_due')
        batch_op.create_index('ix_notifications_due', ['status', 'due_at'], unique=False)
