"""anonymous survey batches and quiz answers

Anonymous surveys become anonymous by construction (app/assessment/surveys.py has the threat
model): a response no longer goes straight into `survey_responses` beside its receipt, where the
physical order (rowid, ctid), the transaction (xmin) and the day matched it to the receipt. It
waits in `survey_pending_responses` (rewritten in a random order on every arrival) until
SURVEY_MIN_RESPONDENTS responses of its session are there, and is then released with them as one
batch: random order, random ids, one `released_on` day for the batch. `answered_on` goes.

Existing responses are rewritten the same way: per survey and session, a group of at least
SURVEY_MIN_RESPONDENTS (read from the environment, default 5) is released as one batch dated its
latest answer day; a smaller group goes back to the pool. Every row gets a new random id and the
rows are written in a random order, after the old ones are deleted.

Quizzes: `show_answers_between_attempts` (default false): the correct answers are shown once no
attempt remains, unless the course says they may be shown after each attempt.

Revision ID: 3bee01cb900a
Revises: 2e8f1b0c4d32
Create Date: 2026-11-30 18:00:00.000000+00:00
"""
from __future__ import annotations

import os
import random
import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = '3bee01cb900a'
down_revision: str | Sequence[str] | None = '2e8f1b0c4d32'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _min_respondents() -> int:
    return max(2, int(os.environ.get("SURVEY_MIN_RESPONDENTS", 5)))


def _responses(day_column: str) -> sa.TableClause:
    return sa.table('survey_responses', sa.column('id', sa.String), sa.column('survey_id', sa.Integer),
                    sa.column('session_id', sa.Integer), sa.column('employee_id', sa.Integer),
                    sa.column(day_column, sa.Date), sa.column('answers', sa.JSON))


_pending = sa.table('survey_pending_responses', sa.column('id', sa.String), sa.column('survey_id', sa.Integer),
                    sa.column('session_id', sa.Integer), sa.column('employee_id', sa.Integer),
                    sa.column('answers', sa.JSON))


def _insert_shuffled(table: sa.TableClause, rows: list[dict], **extra: object) -> None:
    rows = list(rows)
    random.SystemRandom().shuffle(rows)
    for row in rows:  # one at a time, in the shuffled order
        op.get_bind().execute(table.insert().values(
            id=secrets.token_hex(16), survey_id=row['survey_id'], session_id=row['session_id'],
            employee_id=row['employee_id'], answers=row['answers'], **extra))


def upgrade() -> None:
    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('show_answers_between_attempts', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    op.create_table('survey_pending_responses',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                            name=op.f('fk_survey_pending_responses_employee_id_employees'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['training_sessions.id'],
                            name=op.f('fk_survey_pending_responses_session_id_training_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'],
                            name=op.f('fk_survey_pending_responses_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_pending_responses'))
    )
    with op.batch_alter_table('survey_pending_responses', schema=None) as batch_op:
        batch_op.create_index('ix_survey_pending_responses_survey_session', ['survey_id', 'session_id'], unique=False)

    old = _responses('answered_on')
    rows = [dict(row) for row in op.get_bind().execute(sa.select(old)).mappings()]
    op.get_bind().execute(old.delete())
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('released_on', sa.Date(), nullable=False))
        batch_op.drop_column('answered_on')

    groups: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row['survey_id'], row['session_id'])].append(row)
    released = _responses('released_on')
    for group in groups.values():
        if len(group) >= _min_respondents():
            _insert_shuffled(released, group, released_on=max(row['answered_on'] for row in group))
        else:
            _insert_shuffled(_pending, group)


def downgrade() -> None:
    new = _responses('released_on')
    rows = [dict(row) for row in op.get_bind().execute(sa.select(new)).mappings()]
    waiting = [dict(row) for row in op.get_bind().execute(sa.select(_pending)).mappings()]
    op.get_bind().execute(new.delete())
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_on', sa.Date(), nullable=False))
        batch_op.drop_column('released_on')
    old = _responses('answered_on')
    for row in rows:
        op.get_bind().execute(old.insert().values(
            id=row['id'], survey_id=row['survey_id'], session_id=row['session_id'], employee_id=row['employee_id'],
            answers=row['answers'], answered_on=row['released_on']))
    _insert_shuffled(old, waiting, answered_on=date.today())

    with op.batch_alter_table('survey_pending_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_pending_responses_survey_session')
    op.drop_table('survey_pending_responses')

    with op.batch_alter_table('quizzes', schema=None) as batch_op:
        batch_op.drop_column('show_answers_between_attempts')
