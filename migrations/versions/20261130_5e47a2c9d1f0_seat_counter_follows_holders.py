"""seat counter follows holders

The database keeps `training_sessions.seats_taken` equal to the number of enrolments that hold a
seat, on both backends: triggers on `enrolments` move the counter whenever a row starts or stops
holding a seat (so no code path can forget the counter or move it twice), the existing CHECK
keeps it within capacity, and a check refuses a counter that differs from the rows (SQLite: at
once; PostgreSQL: a deferred constraint trigger, at commit, since a multi-row UPDATE runs its row
triggers only at the end of the statement).

The counter moves by +1/-1 on the locked session row rather than by a recount: under READ
COMMITTED a recount in the SET list would use the statement's old snapshot after waiting for
another transaction's lock, and undercount.

Revision ID: 5e47a2c9d1f0
Revises: 8d2e5f4a1b37
Create Date: 2026-11-30 13:00:00.000000+00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '5e47a2c9d1f0'
down_revision: str | Sequence[str] | None = '8d2e5f4a1b37'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDERS = ("(SELECT count(*) FROM enrolments WHERE enrolments.session_id = training_sessions.id"
           " AND enrolments.holds_seat)")
# A counter that drifted before this revision is set right first; a session overbooked by the old
# race keeps its people (capacity rises to them) rather than failing the upgrade.
RECOUNT = {
    "sqlite": f"UPDATE training_sessions SET capacity = max(capacity, {HOLDERS}), seats_taken = {HOLDERS}",
    "postgresql": f"UPDATE training_sessions SET capacity = greatest(capacity, {HOLDERS}), seats_taken = {HOLDERS}",
}

SQLITE_UP = [
    """CREATE TRIGGER trg_enrolments_seat_insert AFTER INSERT ON enrolments WHEN NEW.holds_seat
    BEGIN UPDATE training_sessions SET seats_taken = seats_taken + 1 WHERE id = NEW.session_id; END""",
    """CREATE TRIGGER trg_enrolments_seat_delete AFTER DELETE ON enrolments WHEN OLD.holds_seat
    BEGIN UPDATE training_sessions SET seats_taken = seats_taken - 1 WHERE id = OLD.session_id; END""",
    """CREATE TRIGGER trg_enrolments_seat_update AFTER UPDATE OF holds_seat, session_id ON enrolments
    WHEN OLD.holds_seat <> NEW.holds_seat OR OLD.session_id <> NEW.session_id
    BEGIN
        UPDATE training_sessions SET seats_taken = seats_taken - 1 WHERE OLD.holds_seat AND id = OLD.session_id;
        UPDATE training_sessions SET seats_taken = seats_taken + 1 WHERE NEW.holds_seat AND id = NEW.session_id;
    END""",
    """CREATE TRIGGER trg_training_sessions_seats_start_empty BEFORE INSERT ON training_sessions
    WHEN NEW.seats_taken <> 0
    BEGIN SELECT RAISE(ABORT, 'seat counter mismatch: a new session holds no seats'); END""",
    """CREATE TRIGGER trg_training_sessions_seats_match_holders BEFORE UPDATE OF seats_taken ON training_sessions
    WHEN NEW.seats_taken <> (SELECT count(*) FROM enrolments WHERE session_id = NEW.id AND holds_seat)
    BEGIN SELECT RAISE(ABORT, 'seat counter mismatch: it must equal the enrolments holding a seat'); END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS trg_training_sessions_seats_match_holders",
    "DROP TRIGGER IF EXISTS trg_training_sessions_seats_start_empty",
    "DROP TRIGGER IF EXISTS trg_enrolments_seat_update",
    "DROP TRIGGER IF EXISTS trg_enrolments_seat_delete",
    "DROP TRIGGER IF EXISTS trg_enrolments_seat_insert",
]

POSTGRESQL_UP = [
    """CREATE FUNCTION enrolments_move_seat_counter() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.holds_seat THEN
            UPDATE training_sessions SET seats_taken = seats_taken - 1 WHERE id = OLD.session_id;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.holds_seat THEN
            UPDATE training_sessions SET seats_taken = seats_taken + 1 WHERE id = NEW.session_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER trg_enrolments_seat_insert AFTER INSERT ON enrolments FOR EACH ROW
    WHEN (NEW.holds_seat) EXECUTE FUNCTION enrolments_move_seat_counter()""",
    """CREATE TRIGGER trg_enrolments_seat_delete AFTER DELETE ON enrolments FOR EACH ROW
    WHEN (OLD.holds_seat) EXECUTE FUNCTION enrolments_move_seat_counter()""",
    """CREATE TRIGGER trg_enrolments_seat_update AFTER UPDATE OF holds_seat, session_id ON enrolments FOR EACH ROW
    WHEN (OLD.holds_seat IS DISTINCT FROM NEW.holds_seat OR OLD.session_id IS DISTINCT FROM NEW.session_id)
    EXECUTE FUNCTION enrolments_move_seat_counter()""",
    """CREATE FUNCTION training_sessions_check_seat_counter() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        counter integer;
        holders integer;
    BEGIN
        SELECT seats_taken INTO counter FROM training_sessions WHERE id = NEW.id;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        SELECT count(*) INTO holders FROM enrolments WHERE session_id = NEW.id AND holds_seat;
        IF counter <> holders THEN
            RAISE EXCEPTION 'seat counter mismatch: session % counts %, but % enrolments hold a seat',
                NEW.id, counter, holders USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER trg_training_sessions_seats_match_holders
    AFTER INSERT OR UPDATE OF seats_taken ON training_sessions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION training_sessions_check_seat_counter()""",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS trg_training_sessions_seats_match_holders ON training_sessions",
    "DROP FUNCTION IF EXISTS training_sessions_check_seat_counter()",
    "DROP TRIGGER IF EXISTS trg_enrolments_seat_update ON enrolments",
    "DROP TRIGGER IF EXISTS trg_enrolments_seat_delete ON enrolments",
    "DROP TRIGGER IF EXISTS trg_enrolments_seat_insert ON enrolments",
    "DROP FUNCTION IF EXISTS enrolments_move_seat_counter()",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(RECOUNT[dialect])
    for statement in POSTGRESQL_UP if dialect == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRESQL_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
