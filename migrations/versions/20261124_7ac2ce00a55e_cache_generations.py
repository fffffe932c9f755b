"""cache generations

Revision ID: 7ac2ce00a55e
Revises: 7ec636873587
Create Date: 2026-11-24 11:59:23.289760+00:00
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7ac2ce00a55e'
down_revision: str | Sequence[str] | None = '7ec636873587'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table('cache_generations',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cache_generations'))
    )
    # The row every writing transaction replaces (app/core/cache_generation.py); without it nothing is cached.
    op.bulk_insert(table, [{'name': 'pages', 'token': uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table('cache_generations')
