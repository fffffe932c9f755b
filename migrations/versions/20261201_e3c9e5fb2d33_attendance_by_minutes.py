"""attendance by minutes: H-attendance: minimum share of time, meeting joins, unmatched participants

Revision ID: e3c9e5fb2d33
Revises: e2b8d4ea1c22
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'e3c9e5fb2d33'
down_revision: str | Sequence[str] | None = 'e2b8d4ea1c22'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
