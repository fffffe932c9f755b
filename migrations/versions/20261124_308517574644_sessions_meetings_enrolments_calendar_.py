"""sessions meetings enrolments calendar feeds

Revision ID: 308517574644
Revises: 5aac28cbb93a
Create Date: 2026-11-24 08:47:53.135368+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '308517574644'
down_revision: str | Sequence[str] | None = '5aac28cbb93a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('training_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('online_url', sa.String(length=500), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('seats_taken', sa.Integer(), nullable=False),
    sa.Column('enrolment_opens_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enrolment_closes_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancellation_deadline_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approval_policy', sa.Enum('none', 'manager', 'manager_then_hr', name='approvalpolicy', native_enum=False,
                                         create_constraint=True, length=20), nullable=False),
    sa.Column('status', sa.Enum('scheduled', 'cancelled', name='sessionstatus', native_enum=False,
                                create_constraint=True, length=20), nullable=False),
    sa.Column('cohort_only', sa.Boolean(), nullable=False),
    sa.Column('starts_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_training_sessions_capacity_non_negative')),
    sa.CheckConstraint('enrolment_closes_at > enrolment_opens_at', name=op.f('ck_training_sessions_window_ordered')),
    sa.CheckConstraint('seats_taken >= 0 AND seats_taken <= capacity',
                       name=op.f('ck_training_sessions_seats_within_capacity')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_training_sessions_course_id_courses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_sessions'))
    )
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_training_sessions_course_starts', ['course_id', 'starts_at'], unique=False)

    op.create_table('calendar_feeds',
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_calendar_feeds_employee_id_employees'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('employee_id', name=op.f('pk_calendar_feeds')),
    sa.UniqueConstraint('token', name=op.f('uq_calendar_feeds_token'))
    )
    op.create_table('enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('course_version', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'confirmed', 'waitlisted', 'cancelled', 'declined', name='enrolmentstate',
                               native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('holds_seat', sa.Boolean(), nullable=False),
    sa.Column('approval_stage', sa.Enum('not_required', 'manager', 'hr', 'approved', 'declined', name='approvalstage',
                                        native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('approver_id', sa.Integer(), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=500), nullable=False),
    sa.CheckConstraint("NOT (holds_seat AND state IN ('waitlisted', 'cancelled', 'declined'))",
                       name=op.f('ck_enrolments_seat_only_when_live')),
    sa.CheckConstraint("state <> 'confirmed' OR holds_seat", name=op.f('ck_enrolments_confirmed_has_seat')),
    sa.ForeignKeyConstraint(['approver_id'], ['employees.id'], name=op.f('fk_enrolments_approver_id_employees')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_enrolments_course_id_courses')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_enrolments_employee_id_employees')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['employees.id'],
                            name=op.f('fk_enrolments_requested_by_id_employees')),
    sa.ForeignKeyConstraint(['session_id'], ['training_sessions.id'],
                            name=op.f('fk_enrolments_session_id_training_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolments'))
    )
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.create_index('ix_enrolments_approver_stage', ['approver_id', 'approval_stage'], unique=False)
        batch_op.create_index('ix_enrolments_employee_state', ['employee_id', 'state'], unique=False)
        batch_op.create_index('ix_enrolments_session_state', ['session_id', 'state'], unique=False)
        batch_op.create_index('uq_enrolments_active_employee_course', ['employee_id', 'course_id'], unique=True,
                              sqlite_where=sa.text("state IN ('pending', 'confirmed', 'waitlisted')"),
                              postgresql_where=sa.text("state IN ('pending', 'confirmed', 'waitlisted')"))

    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_meetings_ends_after_start')),
    sa.ForeignKeyConstraint(['session_id'], ['training_sessions.id'],
                            name=op.f('fk_meetings_session_id_training_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings'))
    )
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meetings_session_id'), ['session_id'], unique=False)

    op.create_table('session_instructors',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'],
                            name=op.f('fk_session_instructors_employee_id_employees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['training_sessions.id'],
                            name=op.f('fk_session_instructors_session_id_training_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'employee_id', name=op.f('pk_session_instructors'))
    )
    op.create_table('enrolment_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['employees.id'], name=op.f('fk_enrolment_events_actor_id_employees'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'],
                            name=op.f('fk_enrolment_events_enrolment_id_enrolments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_events'))
    )
    with op.batch_alter_table('enrolment_events', schema=None) as batch_op:
        batch_op.create_index('ix_enrolment_events_enrolment', ['enrolment_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('enrolment_events', schema=None) as batch_op:
        batch_op.drop_index('ix_enrolment_events_enrolment')

    op.drop_table('enrolment_events')
    op.drop_table('session_instructors')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meetings_session_id'))

    op.drop_table('meetings')
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_index('uq_enrolments_active_employee_course',
                            sqlite_where=sa.text("state IN ('pending', 'confirmed', 'waitlisted')"),
                            postgresql_where=sa.text("state IN ('pending', 'confirmed', 'waitlisted')"))
        batch_op.drop_index('ix_enrolments_session_state')
        batch_op.drop_index('ix_enrolments_employee_state')
        batch_op.drop_index('ix_enrolments_approver_stage')

    op.drop_table('enrolments')
    op.drop_table('calendar_feeds')
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_training_sessions_course_starts')

    op.drop_table('training_sessions')
