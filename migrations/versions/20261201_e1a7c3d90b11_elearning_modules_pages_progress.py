"""elearning modules pages progress: H-elearning: self-paced e-learning modules, pages, progress

Revision ID: e1a7c3d90b11
Revises: b3d9f1a2c6e4
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'e1a7c3d90b11'
down_revision: str | Sequence[str] | None = 'b3d9f1a2c6e4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
