"""server side sessions and throttling

Sign-in sessions become rows that can be revoked (sign-out, a password change, deactivation,
an administrator's "sign out everywhere"): `user_sessions`. Sign-in throttling keys on the
person and delays progressively from the last failure (`login_throttles.last_failure_at`), and
the owner of a delayed account is mailed a single-use link (`login_unlocks`). See
app/auth/sessions.py and app/auth/throttling.py.

Sessions signed in before this revision hold no session token: they end, and people sign in again.

Revision ID: 1d7e0a9b3c21
Revises: 964c14a05154
Create Date: 2026-11-30 13:00:00.000000+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '1d7e0a9b3c21'
down_revision: str | Sequence[str] | None = '964c14a05154'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_agent', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_user_sessions_employee_id_employees'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_user_sessions_employee_id', ['employee_id'], unique=False)

    op.create_table('login_unlocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_login_unlocks_employee_id_employees'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_unlocks')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_login_unlocks_token_hash'))
    )
    with op.batch_alter_table('login_unlocks', schema=None) as batch_op:
        batch_op.create_index('ix_login_unlocks_employee_id', ['employee_id'], unique=False)

    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_failure_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
    # Counts kept under the old keys ("account:<typed login>") mean nothing now.
    op.execute("""DELETE FROM login_throttles WHERE "key" LIKE 'account:%'""")


def downgrade() -> None:
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_column('last_failure_at')
    with op.batch_alter_table('login_unlocks', schema=None) as batch_op:
        batch_op.drop_index('ix_login_unlocks_employee_id')
    op.drop_table('login_unlocks')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_user_sessions_employee_id')
    op.drop_table('user_sessions')
