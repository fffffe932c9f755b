"""course web edits and rubrics: H-files: web edits tracked against sync, rubrics per milestone

- `courses.synced_at` / `synced_hash`: when `flask catalog sync` last applied (or confirmed) a file
  course and the content hash it applied; `web_edited_at` / `web_edited_by_id`: the latest web
  edit since then. The sync refuses to overwrite a course edited on the web unless forced.
  Existing file courses are filled from their version history: the latest version written by a
  sync is the last sync; a later version written on the web is a web edit (its author, its time).
- `courses.rubrics`: a programme's rubric per milestone (plan, interim, final_report,
  presentation), from the programme's file or HR's web edit. It replaces
  `cohort_milestones.rubric` (one copy per cohort, fixed in code): a programme without rubrics
  takes the one its cohorts' presentations had, so nothing graded is lost.
- `cohort_reviews.rubric`: the rubric a review was graded by (its scores are indexes into it),
  filled for existing reviews from their milestone.

The columns are added in place (no table copy on SQLite: with foreign keys on, dropping the old
`courses` in a copy would cascade into every table that references it); SQLite takes the foreign
key inline, without ON DELETE (SQLite reflects no options of an inline key; staff are never
deleted, only made inactive).

Revision ID: e5ebab1d4f55
Revises: e4dafa0c3e44
Create Date: 2026-12-01 00:00:00+00:00
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = 'e5ebab1d4f55'
down_revision: str | Sequence[str] | None = 'e4dafa0c3e44'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK_EDITOR = 'fk_courses_web_edited_by_id_employees'


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column('courses', sa.Column('rubrics', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
    op.add_column('courses', sa.Column('synced_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('courses', sa.Column('synced_hash', sa.String(length=64), nullable=True))
    op.add_column('courses', sa.Column('web_edited_at', app.core.db.UTCDateTime(timezone=True), nullable=True))
    if bind.dialect.name == 'sqlite':
        if 'web_edited_by_id' not in {column['name'] for column in sa.inspect(bind).get_columns('courses')}:
            # (left in place by a downgrade: see there)
            op.execute(f"ALTER TABLE courses ADD COLUMN web_edited_by_id INTEGER CONSTRAINT {FK_EDITOR} "
                       "REFERENCES employees (id)")
    else:
        op.add_column('courses', sa.Column('web_edited_by_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f(FK_EDITOR), 'courses', 'employees', ['web_edited_by_id'], ['id'])
    op.add_column('cohort_reviews', sa.Column('rubric', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))

    _fill_sync_state()
    _move_rubrics()
    op.drop_column('cohort_milestones', 'rubric')


def downgrade() -> None:
    bind = op.get_bind()
    op.add_column('cohort_milestones', sa.Column('rubric', sa.JSON(), server_default=sa.text("'[]'"),
                                                 nullable=False))
    milestones = sa.table('cohort_milestones', sa.column('id', sa.Integer), sa.column('cohort_id', sa.Integer),
                          sa.column('kind', sa.String), sa.column('rubric', sa.JSON))
    programmes = dict(bind.execute(sa.text("SELECT cohorts.id, courses.rubrics FROM cohorts "
                                           "JOIN courses ON courses.id = cohorts.programme_id")).all())
    for row in bind.execute(sa.select(milestones.c.id, milestones.c.cohort_id, milestones.c.kind)).all():
        rubrics = _json(programmes.get(row.cohort_id)) or {}
        if rubrics.get(row.kind):
            bind.execute(milestones.update().where(milestones.c.id == row.id).values(rubric=rubrics[row.kind]))
    op.drop_column('cohort_reviews', 'rubric')
    if bind.dialect.name == 'sqlite':
        # SQLite cannot drop a column that has a foreign key, nor copy `courses` safely with foreign
        # keys on: the column stays, unused (NULL), after a downgrade.
        bind.execute(sa.text("UPDATE courses SET web_edited_by_id = NULL"))
    else:
        op.drop_constraint(op.f(FK_EDITOR), 'courses', type_='foreignkey')
        op.drop_column('courses', 'web_edited_by_id')
    for column in ('web_edited_at', 'synced_hash', 'synced_at', 'rubrics'):
        op.drop_column('courses', column)


def _json(value: Any) -> Any:
    """A JSON value read through a text() query: decoded on SQLite (a string), already on PostgreSQL."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def _fill_sync_state() -> None:
    """File courses: the last version a sync wrote is the last sync; a later one is a web edit."""
    bind = op.get_bind()
    courses = sa.table('courses', sa.column('id', sa.Integer), sa.column('source', sa.String),
                       sa.column('synced_at', app.core.db.UTCDateTime(timezone=True)),
                       sa.column('synced_hash', sa.String), sa.column('web_edited_at', app.core.db.UTCDateTime()),
                       sa.column('web_edited_by_id', sa.Integer))
    versions = sa.table('course_versions', sa.column('course_id', sa.Integer), sa.column('version', sa.Integer),
                        sa.column('content_hash', sa.String), sa.column('change_note', sa.String),
                        sa.column('created_at', app.core.db.UTCDateTime(timezone=True)),
                        sa.column('created_by_id', sa.Integer))
    file_courses = [row.id for row in bind.execute(sa.select(courses.c.id).where(courses.c.source == 'file'))]
    for course_id in file_courses:
        history = bind.execute(sa.select(versions).where(versions.c.course_id == course_id)
                               .order_by(versions.c.version.desc())).all()
        last_sync = next((v for v in history if (v.change_note or '').startswith('sync:')), None)
        values: dict[str, Any] = {}
        if last_sync is not None:
            values.update(synced_at=last_sync.created_at, synced_hash=last_sync.content_hash)
        if history and history[0] is not last_sync:
            values.update(web_edited_at=history[0].created_at, web_edited_by_id=history[0].created_by_id)
        if values:
            bind.execute(courses.update().where(courses.c.id == course_id).values(**values))


def _move_rubrics() -> None:
    """Reviews keep the rubric they were graded by; a programme without rubrics takes its cohorts'."""
    bind = op.get_bind()
    milestones = sa.table('cohort_milestones', sa.column('id', sa.Integer), sa.column('cohort_id', sa.Integer),
                          sa.column('kind', sa.String), sa.column('rubric', sa.JSON))
    submissions = sa.table('cohort_submissions', sa.column('id', sa.Integer), sa.column('milestone_id', sa.Integer))
    reviews = sa.table('cohort_reviews', sa.column('id', sa.Integer), sa.column('submission_id', sa.Integer),
                       sa.column('max_points', sa.Integer), sa.column('rubric', sa.JSON))
    cohorts = sa.table('cohorts', sa.column('id', sa.Integer), sa.column('programme_id', sa.Integer))
    courses = sa.table('courses', sa.column('id', sa.Integer), sa.column('rubrics', sa.JSON))

    graded = bind.execute(sa.select(reviews.c.id, milestones.c.rubric)
                          .join(submissions, submissions.c.id == reviews.c.submission_id)
                          .join(milestones, milestones.c.id == submissions.c.milestone_id)
                          .where(reviews.c.max_points > 0)).all()
    for review_id, rubric in graded:
        bind.execute(reviews.update().where(reviews.c.id == review_id).values(rubric=rubric or []))

    taken: dict[int, dict[str, Any]] = {}
    rows = bind.execute(sa.select(cohorts.c.programme_id, milestones.c.kind, milestones.c.rubric)
                        .join(cohorts, cohorts.c.id == milestones.c.cohort_id).order_by(milestones.c.id)).all()
    for programme_id, kind, rubric in rows:
        if rubric:
            taken.setdefault(programme_id, {}).setdefault(kind, rubric)
    order = ('plan', 'interim', 'final_report', 'presentation')
    for programme_id, rubrics in taken.items():
        current = bind.execute(sa.select(courses.c.rubrics).where(courses.c.id == programme_id)).scalar()
        if not current:
            bind.execute(courses.update().where(courses.c.id == programme_id).values(
                rubrics={kind: rubrics[kind] for kind in order if kind in rubrics}))
