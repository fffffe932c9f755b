"""api clients: system accounts (OAuth 2 client credentials) and their tokens

A new table `api_clients` (a client id, the SHA-256 of its secret, one system role, scopes,
revocation). `api_tokens` gets `client_id`: a token belongs to a person or to a client, never
both (check constraint), so `employee_id` becomes nullable. Existing tokens are all personal and
keep working.

Rate windows and idempotency keys are now kept per holder ("token:<id>" or "client:<id>"), so a
system account's hourly tokens share one budget and a retry with the next token replays. Both
tables hold only the last minute's counts and the last day's answers: they are made again empty
(an idempotency key used in the day before the upgrade is forgotten).

`notifications.sent_at` gets an index: the outbox status (GET /api/v1/outbox) reads the last
delivery with max(sent_at), one index entry instead of the whole table.

Revision ID: f1a4c7e2b9d0
Revises: e8b2d1f4a7c3
Create Date: 2026-12-01 10:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'f1a4c7e2b9d0'
down_revision: str | Sequence[str] | None = 'e8b2d1f4a7c3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=30), nullable=False),
    sa.Column('scopes', sa.String(length=100), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('personnel_system', 'hr')", name=op.f('ck_api_clients_role_known')),
    sa.ForeignKeyConstraint(['created_by_id'], ['employees.id'],
                            name=op.f('fk_api_clients_created_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_api_clients_client_id')),
    sa.UniqueConstraint('name', name=op.f('uq_api_clients_name'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.Integer(), nullable=True))
        batch_op.alter_column('employee_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_client_id_api_clients'), 'api_clients',
                                    ['client_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index('ix_api_tokens_client_id', ['client_id'], unique=False)
        batch_op.create_check_constraint(batch_op.f('ck_api_tokens_one_holder'),
                                         sa.text('(employee_id IS NULL) <> (client_id IS NULL)'))

    op.drop_table('api_rate_windows')
    op.drop_table('api_idempotency_keys')
    _create_holder_tables()
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_sent_at', ['sent_at'], unique=False)


def _create_holder_tables() -> None:
    op.create_table('api_idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder', sa.String(length=30), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=300), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_idempotency_keys')),
    sa.UniqueConstraint('holder', 'key', name=op.f('uq_api_idempotency_keys_holder_key'))
    )
    op.create_table('api_rate_windows',
    sa.Column('holder', sa.String(length=30), nullable=False),
    sa.Column('window_started_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('holder', 'window_started_at', name=op.f('pk_api_rate_windows'))
    )


def _create_token_tables() -> None:
    op.create_table('api_idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=300), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_api_idempotency_keys_token_id_api_tokens'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_idempotency_keys')),
    sa.UniqueConstraint('token_id', 'key', name=op.f('uq_api_idempotency_keys_token_id_key'))
    )
    op.create_table('api_rate_windows',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('window_started_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_api_rate_windows_token_id_api_tokens'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_id', 'window_started_at', name=op.f('pk_api_rate_windows'))
    )


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_sent_at')
    op.drop_table('api_rate_windows')
    op.drop_table('api_idempotency_keys')
    op.execute("DELETE FROM api_tokens WHERE client_id IS NOT NULL")
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_api_tokens_one_holder'), type_='check')
        batch_op.drop_index('ix_api_tokens_client_id')
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_client_id_api_clients'), type_='foreignkey')
        batch_op.alter_column('employee_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('client_id')
    op.drop_table('api_clients')
    _create_token_tables()
