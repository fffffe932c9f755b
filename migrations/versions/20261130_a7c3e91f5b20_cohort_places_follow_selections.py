"""cohort places follow selections

Every change of a cohort application or a fieldwork submission is one guarded UPDATE
(app/cohorts/transitions.py); this revision makes the database hold what those moves rely on, on
both backends:

- `cohorts.selected_count` and `cohort_department_caps.selected_count` are moved by triggers on
  `cohort_applications` whenever a row becomes or stops being `selected` (no code path can forget
  a counter or move it twice: a withdrawal that runs twice frees one place once). The existing
  CHECKs keep them within the quota and the caps; a check refuses a counter that differs from the
  rows (SQLite: at once; PostgreSQL: a deferred constraint trigger, at commit, since a multi-row
  UPDATE runs its row triggers only at the end of the statement).
- An application is never withdrawn and selected at once; only reserves have a rank, one
  reserve per rank and cohort.
- A submission version exists once per team (or person) and milestone (the old unique
  constraint never bound: team_id or employee_id is always NULL, and NULLs are distinct), and a
  version has at most one review.

Rows left inconsistent by the old races are set right first: a withdrawn selection becomes
declined, reserve ranks are renumbered 1..n, the counters are recounted (a quota or cap already
exceeded rises to the people holding places rather than failing the upgrade), duplicate
submission versions are renumbered, and of duplicate reviews the first one stays (the version's
status follows it).

Revision ID: a7c3e91f5b20
Revises: 5e47a2c9d1f0
Create Date: 2026-11-30 15:00:00.000000+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c3e91f5b20'
down_revision: str | Sequence[str] | None = '5e47a2c9d1f0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SELECTED = "(SELECT count(*) FROM cohort_applications a WHERE a.cohort_id = cohorts.id AND a.decision = 'selected')"
SELECTED_IN_DEPARTMENT = (
    "(SELECT count(*) FROM cohort_applications a WHERE a.cohort_id = cohort_department_caps.cohort_id "
    "AND a.department_id = cohort_department_caps.unit_id AND a.decision = 'selected')")
GREATEST = {"sqlite": "max", "postgresql": "greatest"}

SQLITE_UP = [
    """CREATE TRIGGER trg_cohort_applications_place_insert AFTER INSERT ON cohort_applications
    WHEN NEW.decision = 'selected'
    BEGIN
        UPDATE cohorts SET selected_count = selected_count + 1 WHERE id = NEW.cohort_id;
        UPDATE cohort_department_caps SET selected_count = selected_count + 1
            WHERE cohort_id = NEW.cohort_id AND unit_id = NEW.department_id;
    END""",
    """CREATE TRIGGER trg_cohort_applications_place_delete AFTER DELETE ON cohort_applications
    WHEN OLD.decision = 'selected'
    BEGIN
        UPDATE cohorts SET selected_count = selected_count - 1 WHERE id = OLD.cohort_id;
        UPDATE cohort_department_caps SET selected_count = selected_count - 1
            WHERE cohort_id = OLD.cohort_id AND unit_id = OLD.department_id;
    END""",
    """CREATE TRIGGER trg_cohort_applications_place_update AFTER UPDATE OF decision, cohort_id, department_id
    ON cohort_applications
    WHEN (OLD.decision = 'selected') <> (NEW.decision = 'selected') OR OLD.cohort_id <> NEW.cohort_id
        OR OLD.department_id IS NOT NEW.department_id
    BEGIN
        UPDATE cohorts SET selected_count = selected_count - 1 WHERE OLD.decision = 'selected' AND id = OLD.cohort_id;
        UPDATE cohort_department_caps SET selected_count = selected_count - 1
            WHERE OLD.decision = 'selected' AND cohort_id = OLD.cohort_id AND unit_id = OLD.department_id;
        UPDATE cohorts SET selected_count = selected_count + 1 WHERE NEW.decision = 'selected' AND id = NEW.cohort_id;
        UPDATE cohort_department_caps SET selected_count = selected_count + 1
            WHERE NEW.decision = 'selected' AND cohort_id = NEW.cohort_id AND unit_id = NEW.department_id;
    END""",
    """CREATE TRIGGER trg_cohorts_places_start_empty BEFORE INSERT ON cohorts
    WHEN NEW.selected_count <> 0
    BEGIN SELECT RAISE(ABORT, 'cohort place counter mismatch: a new cohort has nobody selected'); END""",
    """CREATE TRIGGER trg_cohorts_places_match_selected BEFORE UPDATE OF selected_count ON cohorts
    WHEN NEW.selected_count <> (SELECT count(*) FROM cohort_applications WHERE cohort_id = NEW.id
                                AND decision = 'selected')
    BEGIN SELECT RAISE(ABORT, 'cohort place counter mismatch: it must equal the selected applications'); END""",
    """CREATE TRIGGER trg_cohort_department_caps_places_match_insert BEFORE INSERT ON cohort_department_caps
    WHEN NEW.selected_count <> (SELECT count(*) FROM cohort_applications WHERE cohort_id = NEW.cohort_id
                                AND department_id = NEW.unit_id AND decision = 'selected')
    BEGIN SELECT RAISE(ABORT, 'department cap counter mismatch: it must equal the selected applications'); END""",
    """CREATE TRIGGER trg_cohort_department_caps_places_match_update
    BEFORE UPDATE OF selected_count, cohort_id, unit_id ON cohort_department_caps
    WHEN NEW.selected_count <> (SELECT count(*) FROM cohort_applications WHERE cohort_id = NEW.cohort_id
                                AND department_id = NEW.unit_id AND decision = 'selected')
    BEGIN SELECT RAISE(ABORT, 'department cap counter mismatch: it must equal the selected applications'); END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS trg_cohort_department_caps_places_match_update",
    "DROP TRIGGER IF EXISTS trg_cohort_department_caps_places_match_insert",
    "DROP TRIGGER IF EXISTS trg_cohorts_places_match_selected",
    "DROP TRIGGER IF EXISTS trg_cohorts_places_start_empty",
    "DROP TRIGGER IF EXISTS trg_cohort_applications_place_update",
    "DROP TRIGGER IF EXISTS trg_cohort_applications_place_delete",
    "DROP TRIGGER IF EXISTS trg_cohort_applications_place_insert",
]

POSTGRESQL_UP = [
    """CREATE FUNCTION cohort_applications_move_place_counters() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.decision = 'selected' THEN
            UPDATE cohorts SET selected_count = selected_count - 1 WHERE id = OLD.cohort_id;
            UPDATE cohort_department_caps SET selected_count = selected_count - 1
                WHERE cohort_id = OLD.cohort_id AND unit_id = OLD.department_id;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.decision = 'selected' THEN
            UPDATE cohorts SET selected_count = selected_count + 1 WHERE id = NEW.cohort_id;
            UPDATE cohort_department_caps SET selected_count = selected_count + 1
                WHERE cohort_id = NEW.cohort_id AND unit_id = NEW.department_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER trg_cohort_applications_place_insert AFTER INSERT ON cohort_applications FOR EACH ROW
    WHEN (NEW.decision = 'selected') EXECUTE FUNCTION cohort_applications_move_place_counters()""",
    """CREATE TRIGGER trg_cohort_applications_place_delete AFTER DELETE ON cohort_applications FOR EACH ROW
    WHEN (OLD.decision = 'selected') EXECUTE FUNCTION cohort_applications_move_place_counters()""",
    """CREATE TRIGGER trg_cohort_applications_place_update AFTER UPDATE OF decision, cohort_id, department_id
    ON cohort_applications FOR EACH ROW
    WHEN ((OLD.decision = 'selected') IS DISTINCT FROM (NEW.decision = 'selected')
          OR OLD.cohort_id IS DISTINCT FROM NEW.cohort_id OR OLD.department_id IS DISTINCT FROM NEW.department_id)
    EXECUTE FUNCTION cohort_applications_move_place_counters()""",
    """CREATE FUNCTION cohorts_check_place_counter() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counter integer;
        holders integer;
    BEGIN
        SELECT selected_count INTO counter FROM cohorts WHERE id = NEW.id;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        SELECT count(*) INTO holders FROM cohort_applications WHERE cohort_id = NEW.id AND decision = 'selected';
        IF counter <> holders THEN
            RAISE EXCEPTION 'cohort place counter mismatch: cohort % counts %, but % applications are selected',
                NEW.id, counter, holders USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER trg_cohorts_places_match_selected
    AFTER INSERT OR UPDATE OF selected_count ON cohorts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cohorts_check_place_counter()""",
    """CREATE FUNCTION cohort_department_caps_check_place_counter() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counter integer;
        holders integer;
        the_cohort integer;
        the_unit integer;
    BEGIN
        SELECT selected_count, cohort_id, unit_id INTO counter, the_cohort, the_unit
            FROM cohort_department_caps WHERE id = NEW.id;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        SELECT count(*) INTO holders FROM cohort_applications
            WHERE cohort_id = the_cohort AND department_id = the_unit AND decision = 'selected';
        IF counter <> holders THEN
            RAISE EXCEPTION 'department cap counter mismatch: cap % counts %, but % applications are selected',
                NEW.id, counter, holders USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER trg_cohort_department_caps_places_match_selected
    AFTER INSERT OR UPDATE OF selected_count, cohort_id, unit_id ON cohort_department_caps
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cohort_department_caps_check_place_counter()""",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS trg_cohort_department_caps_places_match_selected ON cohort_department_caps",
    "DROP FUNCTION IF EXISTS cohort_department_caps_check_place_counter()",
    "DROP TRIGGER IF EXISTS trg_cohorts_places_match_selected ON cohorts",
    "DROP FUNCTION IF EXISTS cohorts_check_place_counter()",
    "DROP TRIGGER IF EXISTS trg_cohort_applications_place_update ON cohort_applications",
    "DROP TRIGGER IF EXISTS trg_cohort_applications_place_delete ON cohort_applications",
    "DROP TRIGGER IF EXISTS trg_cohort_applications_place_insert ON cohort_applications",
    "DROP FUNCTION IF EXISTS cohort_applications_move_place_counters()",
]


def _set_right_old_rows(dialect: str) -> None:
    bind = op.get_bind()
    op.execute("UPDATE cohort_applications SET decision = 'declined' WHERE is_withdrawn AND decision = 'selected'")
    op.execute("UPDATE cohort_applications SET reserve_rank = NULL WHERE decision <> 'reserve'")
    # Reserve ranks 1..n per cohort, in the order they had (two HR users could give the same rank).
    reserves = bind.execute(sa.text(
        "SELECT id, cohort_id FROM cohort_applications WHERE decision = 'reserve' "
        "ORDER BY cohort_id, reserve_rank IS NULL, reserve_rank, id")).all()
    rank: dict[int, int] = {}
    for application_id, cohort_id in reserves:
        rank[cohort_id] = rank.get(cohort_id, 0) + 1
        bind.execute(sa.text("UPDATE cohort_applications SET reserve_rank = :rank WHERE id = :id"),
                     {"rank": rank[cohort_id], "id": application_id})
    greatest = GREATEST[dialect]
    op.execute(f"UPDATE cohorts SET quota = {greatest}(quota, {SELECTED}), selected_count = {SELECTED}")
    op.execute(f"UPDATE cohort_department_caps SET cap = {greatest}(cap, {SELECTED_IN_DEPARTMENT}), "
               f"selected_count = {SELECTED_IN_DEPARTMENT}")
    # Versions 1..n per team (or person) and milestone, in the order they were stored.
    versions = bind.execute(sa.text(
        "SELECT id, milestone_id, team_id, employee_id, version FROM cohort_submissions "
        "ORDER BY milestone_id, team_id, employee_id, version, id")).all()
    number: dict[tuple[int, int | None, int | None], int] = {}
    for submission_id, milestone_id, team_id, employee_id, version in versions:
        key = (milestone_id, team_id, None if team_id is not None else employee_id)
        number[key] = number.get(key, 0) + 1
        if number[key] != version:
            bind.execute(sa.text("UPDATE cohort_submissions SET version = :version WHERE id = :id"),
                         {"version": number[key], "id": submission_id})
    op.execute("DELETE FROM cohort_reviews WHERE id NOT IN "
               "(SELECT min(id) FROM cohort_reviews GROUP BY submission_id)")
    op.execute("UPDATE cohort_submissions SET status = (SELECT CASE WHEN r.accepted THEN 'accepted' ELSE 'returned' "
               "END FROM cohort_reviews r WHERE r.submission_id = cohort_submissions.id) "
               "WHERE id IN (SELECT submission_id FROM cohort_reviews)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _set_right_old_rows(dialect)
    # Nothing refers to cohort_applications, so SQLite's copy-and-rename of batch mode is safe here.
    with op.batch_alter_table('cohort_applications', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_cohort_applications_withdrawn_not_selected'),
                                         "NOT (is_withdrawn AND decision = 'selected')")
        batch_op.create_check_constraint(
            op.f('ck_cohort_applications_rank_only_for_reserves'),
            "(decision = 'reserve' AND reserve_rank IS NOT NULL) OR (decision <> 'reserve' AND reserve_rank IS NULL)")
        batch_op.create_index('ix_cohort_applications_reserve_rank', ['cohort_id', 'reserve_rank'], unique=True)
    with op.batch_alter_table('cohort_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_cohort_submissions_team_version', ['milestone_id', 'team_id', 'version'],
                              unique=True, sqlite_where=sa.text('team_id IS NOT NULL'),
                              postgresql_where=sa.text('team_id IS NOT NULL'))
        batch_op.create_index('ix_cohort_submissions_person_version', ['milestone_id', 'employee_id', 'version'],
                              unique=True, sqlite_where=sa.text('team_id IS NULL'),
                              postgresql_where=sa.text('team_id IS NULL'))
    with op.batch_alter_table('cohort_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_cohort_reviews_submission_id')
        batch_op.create_index('ix_cohort_reviews_submission_id', ['submission_id'], unique=True)
    for statement in POSTGRESQL_UP if dialect == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRESQL_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    with op.batch_alter_table('cohort_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_cohort_reviews_submission_id')
        batch_op.create_index('ix_cohort_reviews_submission_id', ['submission_id'], unique=False)
    with op.batch_alter_table('cohort_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_cohort_submissions_person_version', sqlite_where=sa.text('team_id IS NULL'),
                            postgresql_where=sa.text('team_id IS NULL'))
        batch_op.drop_index('ix_cohort_submissions_team_version', sqlite_where=sa.text('team_id IS NOT NULL'),
                            postgresql_where=sa.text('team_id IS NOT NULL'))
    with op.batch_alter_table('cohort_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_cohort_applications_reserve_rank')
        batch_op.drop_constraint(op.f('ck_cohort_applications_rank_only_for_reserves'), type_='check')
        batch_op.drop_constraint(op.f('ck_cohort_applications_withdrawn_not_selected'), type_='check')
