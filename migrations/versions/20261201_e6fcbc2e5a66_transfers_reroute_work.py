"""transfers reroute work: H-transfers: re-routing pending work and digests

A cohort application waiting for endorsement names the head asked to endorse it
(`cohort_applications.approver_id`), so a transfer can hand it to the new head and void the old
head's unsent notice. Existing rows keep NULL (asked before this revision; the right to endorse
is read from the organisation either way).

On SQLite batch mode copies the table: the place-counting triggers of revision a7c3e91f5b20 are
dropped before and created again after, with that revision's own statements.

Revision ID: e6fcbc2e5a66
Revises: e5ebab1d4f55
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = 'e6fcbc2e5a66'
down_revision: str | Sequence[str] | None = 'e5ebab1d4f55'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _place_triggers() -> tuple[list[str], list[str]]:
    """SQLite's place-counting triggers (create, drop), as the revision that made them wrote them."""
    path = Path(__file__).with_name("20261130_a7c3e91f5b20_cohort_places_follow_selections.py")
    spec = importlib.util.spec_from_file_location("cohort_places_follow_selections", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SQLITE_UP), list(module.SQLITE_DOWN)


def _alter_applications(change: Callable[[Any], None]) -> None:
    """Change cohort_applications in batch mode. On SQLite that copies the table and renames the
    copy, which drops its triggers and trips over the triggers of other tables that read it: the
    place-counting triggers go first and come back after, exactly as they were."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    create, drop = _place_triggers() if sqlite else ([], [])
    for statement in drop:
        op.execute(statement)
    with op.batch_alter_table('cohort_applications', schema=None) as batch_op:
        change(batch_op)
    for statement in create:
        op.execute(statement)


def upgrade() -> None:
    def add(batch_op: Any) -> None:
        batch_op.add_column(sa.Column('approver_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_cohort_applications_approver_id_employees'), 'employees',
                                    ['approver_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(op.f('ix_cohort_applications_approver_id'), ['approver_id'], unique=False)

    _alter_applications(add)


def downgrade() -> None:
    def remove(batch_op: Any) -> None:
        batch_op.drop_index(op.f('ix_cohort_applications_approver_id'))
        batch_op.drop_constraint(op.f('fk_cohort_applications_approver_id_employees'), type_='foreignkey')
        batch_op.drop_column('approver_id')

    _alter_applications(remove)
