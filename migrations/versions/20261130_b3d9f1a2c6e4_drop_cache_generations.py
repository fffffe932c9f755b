"""drop cache generations: the per-user page cache is gone (issue 16: it never hit during an
enrolment morning, and its token made every writing transaction update one shared row)

Revision ID: b3d9f1a2c6e4
Revises: 3bee01cb900a
Create Date: 2026-11-30 18:50:00+00:00
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b3d9f1a2c6e4'
down_revision: str | Sequence[str] | None = '3bee01cb900a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table('cache_generations')


def downgrade() -> None:
    table = op.create_table('cache_generations',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cache_generations'))
    )
    op.bulk_insert(table, [{'name': 'pages', 'token': uuid.uuid4().hex}])
