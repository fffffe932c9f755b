"""attendance by minutes: H-attendance: minimum share of time, meeting joins, unmatched participants

- `training_sessions.min_presence_pct` (1–100, default 75): the share of a meeting's scheduled
  time someone must have been in the web meeting to be marked present from a participant list.
- `participant_imports`: an uploaded participant list of a meeting, previewed, then applied once.
- `imported_participants`: one person of a list, their joins merged and clipped to the meeting
  (minutes), matched by e-mail, by hand, or waiting to be matched (never skipped).

Revision ID: e3c9e5fb2d33
Revises: e2b8d4ea1c22
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'e3c9e5fb2d33'
down_revision: str | Sequence[str] | None = 'e2b8d4ea1c22'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK_NAME = 'ck_training_sessions_min_presence_pct_range'
CHECK = 'min_presence_pct >= 1 AND min_presence_pct <= 100'


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # ADD COLUMN with its named CHECK: a batch copy of training_sessions would break the seat
        # triggers of enrolments that name it (SQLite checks them on the rename).
        op.execute(f"ALTER TABLE training_sessions ADD COLUMN min_presence_pct INTEGER NOT NULL DEFAULT '75' "
                   f"CONSTRAINT {CHECK_NAME} CHECK ({CHECK})")
    else:
        op.add_column('training_sessions',
                      sa.Column('min_presence_pct', sa.Integer(), server_default='75', nullable=False))
        op.create_check_constraint(op.f(CHECK_NAME), 'training_sessions', CHECK)

    op.create_table('participant_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('file_format', sa.String(length=40), nullable=False),
    sa.Column('state', sa.Enum('previewed', 'applied', name='importstate', native_enum=False,
                               create_constraint=True, length=20), nullable=False),
    sa.Column('uploaded_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('applied_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('applied_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['applied_by_id'], ['employees.id'],
                            name=op.f('fk_participant_imports_applied_by_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'],
                            name=op.f('fk_participant_imports_meeting_id_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['employees.id'],
                            name=op.f('fk_participant_imports_uploaded_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participant_imports'))
    )
    with op.batch_alter_table('participant_imports', schema=None) as batch_op:
        batch_op.create_index('ix_participant_imports_meeting', ['meeting_id'], unique=False)

    op.create_table('imported_participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('first_line', sa.Integer(), nullable=False),
    sa.Column('lines', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('intervals', sa.JSON(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('match', sa.Enum('matched', 'unmatched', 'matched_by_hand', 'dismissed', name='participantmatch',
                               native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=True),
    sa.Column('matched_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('matched_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('minutes >= 0', name=op.f('ck_imported_participants_minutes_non_negative')),
    sa.CheckConstraint("(enrolment_id IS NOT NULL) = (match IN ('matched', 'matched_by_hand'))",
                       name=op.f('ck_imported_participants_matched_has_enrolment')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'],
                            name=op.f('fk_imported_participants_enrolment_id_enrolments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['participant_imports.id'],
                            name=op.f('fk_imported_participants_import_id_participant_imports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['matched_by_id'], ['employees.id'],
                            name=op.f('fk_imported_participants_matched_by_id_employees'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_participants'))
    )
    with op.batch_alter_table('imported_participants', schema=None) as batch_op:
        batch_op.create_index('ix_imported_participants_enrolment', ['enrolment_id'], unique=False)
        batch_op.create_index('ix_imported_participants_import', ['import_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('imported_participants', schema=None) as batch_op:
        batch_op.drop_index('ix_imported_participants_import')
        batch_op.drop_index('ix_imported_participants_enrolment')
    op.drop_table('imported_participants')
    with op.batch_alter_table('participant_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_participant_imports_meeting')
    op.drop_table('participant_imports')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE training_sessions DROP COLUMN min_presence_pct")  # its CHECK goes with it
    else:
        op.drop_constraint(op.f(CHECK_NAME), 'training_sessions', type_='check')
        op.drop_column('training_sessions', 'min_presence_pct')
