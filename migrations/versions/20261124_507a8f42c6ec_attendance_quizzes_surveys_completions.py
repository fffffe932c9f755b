"""attendance quizzes surveys completions

Revision ID: 507a8f42c6ec
Revises: 56be6f9fa21d
Create Date: 2026-11-24 09:07:27.831709+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = '507a8f42c6ec'
down_revision: str | Sequence[str] | None = '56be6f9fa21d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('quizzes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('pass_mark', sa.Integer(), nullable=False),
    sa.Column('attempts_allowed', sa.Integer(), nullable=False),
    sa.Column('time_limit_minutes', sa.Integer(), nullable=True),
    sa.Column('shuffle', sa.Boolean(), nullable=False),
    sa.Column('show_answers', sa.Boolean(), nullable=False),
    sa.Column('opens_after_session', sa.Boolean(), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('attempts_allowed >= 1', name=op.f('ck_quizzes_attempts_positive')),
    sa.CheckConstraint('pass_mark BETWEEN 0 AND 100', name=op.f('ck_quizzes_pass_mark_range')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_quizzes_course_id_courses'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quizzes')),
    sa.UniqueConstraint('course_id', name=op.f('uq_quizzes_course_id'))
    )
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('is_anonymous', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_surveys_course_id_courses'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys')),
    sa.UniqueConstraint('course_id', name=op.f('uq_surveys_course_id'))
    )
    op.create_table('quiz_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quiz_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('single', 'multiple', 'true_false', 'short', name='questiontype', native_enum=False,
                              create_constraint=True, length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('points >= 0', name=op.f('ck_quiz_questions_points_non_negative')),
    sa.ForeignKeyConstraint(['quiz_id'], ['quizzes.id'], name=op.f('fk_quiz_questions_quiz_id_quizzes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_questions'))
    )
    with op.batch_alter_table('quiz_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_questions_quiz_id'), ['quiz_id'], unique=False)

    op.create_table('survey_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('scale', 'text', name='surveyquestionkind', native_enum=False, create_constraint=True,
                              length=20), nullable=False),
    sa.Column('text_ja', sa.String(length=300), nullable=False),
    sa.Column('text_en', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_questions_survey_id_surveys'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_questions'))
    )
    with op.batch_alter_table('survey_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_questions_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_responses',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=True),
    sa.Column('answered_on', sa.Date(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_survey_responses_employee_id_employees'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['training_sessions.id'],
                            name=op.f('fk_survey_responses_session_id_training_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_responses_survey_id_surveys'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_responses'))
    )
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.create_index('ix_survey_responses_survey_session', ['survey_id', 'session_id'], unique=False)

    op.create_table('attendance_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('present', 'late', 'left_early', 'absent', 'excused', name='attendancestatus',
                                native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('remark', sa.String(length=300), nullable=False),
    sa.Column('source', sa.Enum('roster', 'check_in', 'import', name='marksource', native_enum=False,
                                create_constraint=True, length=20), nullable=False),
    sa.Column('marked_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'],
                            name=op.f('fk_attendance_marks_enrolment_id_enrolments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['marked_by_id'], ['employees.id'], name=op.f('fk_attendance_marks_marked_by_id_employees'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_attendance_marks_meeting_id_meetings'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_marks')),
    sa.UniqueConstraint('enrolment_id', 'meeting_id', name=op.f('uq_attendance_marks_enrolment_id_meeting_id'))
    )
    with op.batch_alter_table('attendance_marks', schema=None) as batch_op:
        batch_op.create_index('ix_attendance_marks_meeting', ['meeting_id'], unique=False)

    op.create_table('completions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.Enum('rule', 'programme', 'manual', name='completionsource', native_enum=False,
                                create_constraint=True, length=20), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=False),
    sa.Column('hours', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('certificate_code', sa.String(length=40), nullable=False),
    sa.Column('evidence_note', sa.Text(), nullable=False),
    sa.Column('recorded_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_completions_course_id_courses')),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_completions_employee_id_employees'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], name=op.f('fk_completions_enrolment_id_enrolments'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['employees.id'], name=op.f('fk_completions_recorded_by_id_employees'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_completions')),
    sa.UniqueConstraint('certificate_code', name=op.f('uq_completions_certificate_code'))
    )
    with op.batch_alter_table('completions', schema=None) as batch_op:
        batch_op.create_index('ix_completions_course_completed', ['course_id', 'completed_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_completions_employee_id'), ['employee_id'], unique=False)
        batch_op.create_index('uq_completions_valid_employee_course', ['employee_id', 'course_id'], unique=True,
                              sqlite_where=sa.text('revoked_at IS NULL'),
                              postgresql_where=sa.text('revoked_at IS NULL'))

    op.create_table('quiz_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quiz_id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('attempt_no', sa.Integer(), nullable=False),
    sa.Column('question_order', sa.JSON(), nullable=False),
    sa.Column('started_at', app.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', app.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('timed_out', sa.Boolean(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('max_score', sa.Integer(), nullable=True),
    sa.Column('percent', sa.Integer(), nullable=True),
    sa.Column('needs_grading', sa.Boolean(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_quiz_attempts_employee_id_employees'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'], name=op.f('fk_quiz_attempts_enrolment_id_enrolments'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['quiz_id'], ['quizzes.id'], name=op.f('fk_quiz_attempts_quiz_id_quizzes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_attempts')),
    sa.UniqueConstraint('enrolment_id', 'attempt_no', name=op.f('uq_quiz_attempts_enrolment_id_attempt_no'))
    )
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_quiz_attempts_employee_quiz', ['employee_id', 'quiz_id'], unique=False)

    op.create_table('survey_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('answered_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'],
                            name=op.f('fk_survey_receipts_enrolment_id_enrolments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_receipts_survey_id_surveys'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_receipts')),
    sa.UniqueConstraint('survey_id', 'enrolment_id', name=op.f('uq_survey_receipts_survey_id_enrolment_id'))
    )
    with op.batch_alter_table('survey_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_receipts_enrolment_id'), ['enrolment_id'], unique=False)

    op.create_table('quiz_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('points_awarded', sa.Integer(), nullable=True),
    sa.Column('graded_by_id', sa.Integer(), nullable=True),
    sa.Column('grader_comment', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['quiz_attempts.id'], name=op.f('fk_quiz_answers_attempt_id_quiz_attempts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['graded_by_id'], ['employees.id'], name=op.f('fk_quiz_answers_graded_by_id_employees'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['question_id'], ['quiz_questions.id'],
                            name=op.f('fk_quiz_answers_question_id_quiz_questions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_answers')),
    sa.UniqueConstraint('attempt_id', 'question_id', name=op.f('uq_quiz_answers_attempt_id_question_id'))
    )


def downgrade() -> None:
    op.drop_table('quiz_answers')
    with op.batch_alter_table('survey_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_receipts_enrolment_id'))

    op.drop_table('survey_receipts')
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_quiz_attempts_employee_quiz')

    op.drop_table('quiz_attempts')
    with op.batch_alter_table('completions', schema=None) as batch_op:
        batch_op.drop_index('uq_completions_valid_employee_course', sqlite_where=sa.text('revoked_at IS NULL'),
                            postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_completions_employee_id'))
        batch_op.drop_index('ix_completions_course_completed')

    op.drop_table('completions')
    with op.batch_alter_table('attendance_marks', schema=None) as batch_op:
        batch_op.drop_index('ix_attendance_marks_meeting')

    op.drop_table('attendance_marks')
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_responses_survey_session')

    op.drop_table('survey_responses')
    with op.batch_alter_table('survey_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_questions_survey_id'))

    op.drop_table('survey_questions')
    with op.batch_alter_table('quiz_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_questions_quiz_id'))

    op.drop_table('quiz_questions')
    op.drop_table('surveys')
    op.drop_table('quizzes')
