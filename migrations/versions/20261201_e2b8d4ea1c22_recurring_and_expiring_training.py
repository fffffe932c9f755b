"""recurring and expiring training: H-recurrence: recurring assignment rules, completion expiry, cycles

- `courses.valid_for_months`: a completion of the course expires after this many months.
- `assignment_rules.recurrence` (none / fiscal_year / months) and `interval_months`; a rule rolled
  over to the next fiscal year is marked once (`rolled_over_at`) and its successor names it
  (`previous_rule_id`, unique: a rule rolls over once).
- `assignments.cycle` and `opens_on`: one row per rule, person and cycle (the unique constraint
  gains `cycle`); a cycle replaced by the next one is `superseded` (kept as history).
- `completions.cycle` and `valid_until`: one valid completion per person, course and cycle.

Existing rows become cycle 1 of rules that do not repeat and completions that never expire.

On SQLite `courses` and `assignment_rules` get their columns by ALTER TABLE ADD COLUMN (with their
CHECKs), never by batch mode's copy-and-rename: other tables refer to them, and dropping a
referenced table with foreign keys on would cascade into its children. `assignments` and
`completions` are referred to by nothing, so batch mode rebuilds them.

Revision ID: e2b8d4ea1c22
Revises: e1a7c3d90b11
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'e2b8d4ea1c22'
down_revision: str | Sequence[str] | None = 'e1a7c3d90b11'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALID_FOR_RANGE = "valid_for_months IS NULL OR valid_for_months BETWEEN 1 AND 120"
RECURRENCES = "recurrence IN ('none', 'fiscal_year', 'months')"
INTERVAL_FOR_MONTHS = ("(recurrence = 'months' AND interval_months BETWEEN 1 AND 120) "
                       "OR (recurrence <> 'months' AND interval_months IS NULL)")
STATUSES_BEFORE = "status IN ('active', 'withdrawn')"
STATUSES_AFTER = "status IN ('active', 'withdrawn', 'superseded')"

SQLITE_UP = [
    f"ALTER TABLE courses ADD COLUMN valid_for_months INTEGER "
    f"CONSTRAINT ck_courses_valid_for_months_range CHECK ({VALID_FOR_RANGE})",
    f"ALTER TABLE assignment_rules ADD COLUMN recurrence VARCHAR(20) DEFAULT 'none' NOT NULL "
    f"CONSTRAINT ck_assignment_rules_recurrence CHECK ({RECURRENCES})",
    f"ALTER TABLE assignment_rules ADD COLUMN interval_months INTEGER "
    f"CONSTRAINT ck_assignment_rules_interval_for_months CHECK ({INTERVAL_FOR_MONTHS})",
    "ALTER TABLE assignment_rules ADD COLUMN previous_rule_id INTEGER",
    "ALTER TABLE assignment_rules ADD COLUMN rolled_over_at DATETIME",
]
SQLITE_DOWN = [
    "ALTER TABLE assignment_rules DROP COLUMN rolled_over_at",
    "ALTER TABLE assignment_rules DROP COLUMN previous_rule_id",
    "ALTER TABLE assignment_rules DROP COLUMN interval_months",  # its CHECK names recurrence: first
    "ALTER TABLE assignment_rules DROP COLUMN recurrence",
    "ALTER TABLE courses DROP COLUMN valid_for_months",
]


def _courses_and_rules_up(dialect: str) -> None:
    if dialect == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    else:
        op.add_column('courses', sa.Column('valid_for_months', sa.Integer(), nullable=True))
        op.create_check_constraint(op.f('ck_courses_valid_for_months_range'), 'courses', VALID_FOR_RANGE)
        op.add_column('assignment_rules', sa.Column('recurrence', sa.String(length=20), server_default='none',
                                                    nullable=False))
        op.add_column('assignment_rules', sa.Column('interval_months', sa.Integer(), nullable=True))
        op.add_column('assignment_rules', sa.Column('previous_rule_id', sa.Integer(), nullable=True))
        op.add_column('assignment_rules', sa.Column('rolled_over_at', app.core.db.UTCDateTime(timezone=True),
                                                    nullable=True))
        op.create_check_constraint(op.f('ck_assignment_rules_recurrence'), 'assignment_rules', RECURRENCES)
        op.create_check_constraint(op.f('ck_assignment_rules_interval_for_months'), 'assignment_rules',
                                   INTERVAL_FOR_MONTHS)
    op.create_index('uq_assignment_rules_previous_rule_id', 'assignment_rules', ['previous_rule_id'], unique=True)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _courses_and_rules_up(dialect)
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cycle', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('opens_on', sa.Date(), nullable=True))
        batch_op.drop_constraint(op.f('uq_assignments_rule_id_employee_id'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_assignments_rule_id_employee_id_cycle'),
                                          ['rule_id', 'employee_id', 'cycle'])
        batch_op.create_check_constraint(op.f('ck_assignments_cycle_positive'), 'cycle >= 1')
        batch_op.drop_constraint(op.f('ck_assignments_assignmentstatus'), type_='check')
        batch_op.create_check_constraint(op.f('ck_assignments_assignmentstatus'), STATUSES_AFTER)
    # HR's compliance view counts a fiscal year's active assignments prefecture-wide.
    op.create_index('ix_assignments_fiscal_year_status', 'assignments', ['fiscal_year', 'status'])
    with op.batch_alter_table('completions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cycle', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('valid_until', sa.Date(), nullable=True))
        batch_op.drop_index('uq_completions_valid_employee_course', sqlite_where=sa.text('revoked_at IS NULL'),
                            postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.create_index('uq_completions_valid_employee_course_cycle', ['employee_id', 'course_id', 'cycle'],
                              unique=True, sqlite_where=sa.text('revoked_at IS NULL'),
                              postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.create_check_constraint(op.f('ck_completions_cycle_positive'), 'cycle >= 1')
        batch_op.create_check_constraint(op.f('ck_completions_valid_after_completed'),
                                         'valid_until IS NULL OR valid_until >= completed_on')


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Later cycles cannot be kept under the old one-per-person constraints: only cycle 1 stays.
    op.execute("DELETE FROM completions WHERE cycle > 1")
    op.execute("DELETE FROM assignments WHERE cycle > 1")
    op.execute("UPDATE assignments SET status = 'active' WHERE status = 'superseded'")
    op.drop_index('ix_assignments_fiscal_year_status', table_name='assignments')
    with op.batch_alter_table('completions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_completions_valid_after_completed'), type_='check')
        batch_op.drop_constraint(op.f('ck_completions_cycle_positive'), type_='check')
        batch_op.drop_index('uq_completions_valid_employee_course_cycle', sqlite_where=sa.text('revoked_at IS NULL'),
                            postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.create_index('uq_completions_valid_employee_course', ['employee_id', 'course_id'], unique=True,
                              sqlite_where=sa.text('revoked_at IS NULL'),
                              postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.drop_column('valid_until')
        batch_op.drop_column('cycle')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_assignments_assignmentstatus'), type_='check')
        batch_op.create_check_constraint(op.f('ck_assignments_assignmentstatus'), STATUSES_BEFORE)
        batch_op.drop_constraint(op.f('ck_assignments_cycle_positive'), type_='check')
        batch_op.drop_constraint(op.f('uq_assignments_rule_id_employee_id_cycle'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_assignments_rule_id_employee_id'), ['rule_id', 'employee_id'])
        batch_op.drop_column('opens_on')
        batch_op.drop_column('cycle')
    op.drop_index('uq_assignment_rules_previous_rule_id', table_name='assignment_rules')
    if dialect == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        op.drop_constraint(op.f('ck_assignment_rules_interval_for_months'), 'assignment_rules', type_='check')
        op.drop_constraint(op.f('ck_assignment_rules_recurrence'), 'assignment_rules', type_='check')
        op.drop_column('assignment_rules', 'rolled_over_at')
        op.drop_column('assignment_rules', 'previous_rule_id')
        op.drop_column('assignment_rules', 'interval_months')
        op.drop_column('assignment_rules', 'recurrence')
        op.drop_constraint(op.f('ck_courses_valid_for_months_range'), 'courses', type_='check')
        op.drop_column('courses', 'valid_for_months')
