"""report versions and half plans: H-statistics: half-year report versions/errata, plans per half

Revision ID: e4dafa0c3e44
Revises: e3c9e5fb2d33
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'e4dafa0c3e44'
down_revision: str | Sequence[str] | None = 'e3c9e5fb2d33'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
