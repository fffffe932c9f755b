"""outbox enrolment index without status

Revision ID: 8d2e5f4a1b37
Revises: 3f1c9b7e2a64
Create Date: 2026-11-24 13:10:00.000000+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '8d2e5f4a1b37'
down_revision: str | Sequence[str] | None = '3f1c9b7e2a64'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An enrolment has a handful of notifications, so the status adds nothing to lookups; leaving
    # it out spares the index two rewrites per message (pending → sending → sent) in the sweep.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_enrolment')
        batch_op.create_index('ix_notifications_enrolment', ['enrolment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_enrolment')
        batch_op.create_index('ix_notifications_enrolment', ['enrolment_id', 'status'], unique=False)
