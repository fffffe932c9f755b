"""recurring and expiring training: H-recurrence: recurring assignment rules, completion expiry, cycles

Revision ID: e2b8d4ea1c22
Revises: e1a7c3d90b11
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'e2b8d4ea1c22'
down_revision: str | Sequence[str] | None = 'e1a7c3d90b11'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
