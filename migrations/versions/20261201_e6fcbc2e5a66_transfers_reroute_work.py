"""transfers reroute work: H-transfers: re-routing pending work and digests

Revision ID: e6fcbc2e5a66
Revises: e5ebab1d4f55
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = 'e6fcbc2e5a66'
down_revision: str | Sequence[str] | None = 'e5ebab1d4f55'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
