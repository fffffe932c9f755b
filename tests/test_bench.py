"""The benchmark tools keep working: the generator gives the same data for the same seed, and the
sweep harness delivers every queued reminder when two sender processes share the work."""
from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import create_engine, text


def fingerprint(database_url: str) -> str:
    engine = create_engine(database_url)
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for query in ("SELECT employee_number, name, unit_id, grade_id FROM employees ORDER BY employee_number",
                      "SELECT employee_id, session_id, state FROM enrolments ORDER BY id",
                      "SELECT code, title_ja FROM courses ORDER BY code"):
            for row in connection.execute(text(query)):
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()


def test_generator_is_deterministic_and_two_sweep_processes_send_every_reminder(
        make_database_url: Callable[[], str]) -> None:
    from bench.generate import generate
    from bench.run import reminder_sweep

    first, second = make_database_url(), make_database_url()
    counts, again = generate("S", first, 2026), generate("S", second, 2026)
    counts.pop("seconds"), again.pop("seconds")
    assert counts == again and counts["staff"] == 600 and counts["enrolments"] == 6000
    assert fingerprint(first) == fingerprint(second)

    result = reminder_sweep(first, 1500, processes=2)  # more than two batches of 500: a second sender starts
    assert (result["sent"], result["processes"]) == (1500, 2)

    # The generator inserts explicit ids: the app's own next insert into every table still works
    # (PostgreSQL's sequences were left at 1, so the first enrolment on generated data collided).
    engine = create_engine(first)
    with engine.begin() as connection:
        for table in ("units", "employees", "training_sessions", "enrolments", "courses"):
            highest = connection.execute(text(f"SELECT max(id) FROM {table}")).scalar()
            if connection.dialect.name == "postgresql":
                following = connection.execute(
                    text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")).scalar()
                assert following > highest, (table, following, highest)
    engine.dispose()
