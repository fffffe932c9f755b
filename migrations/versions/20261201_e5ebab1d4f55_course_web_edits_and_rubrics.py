"""course web edits and rubrics: H-files: web edits tracked against sync, rubrics per milestone

Revision ID: e5ebab1d4f55
Revises: e4dafa0c3e44
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'e5ebab1d4f55'
down_revision: str | Sequence[str] | None = 'e4dafa0c3e44'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
