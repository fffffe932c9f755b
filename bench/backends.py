"""The databases a benchmark runs on, one per backend named on its command line."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (Debian: apt-get install wrk)")


def backend_databases(backends: str, name: str) -> Iterator[tuple[str, str]]:
    """(backend, database URL) for each of "sqlite,postgresql": an SQLite file in a temporary
    directory, a database in a throwaway PostgreSQL cluster (tests/pg_cluster.py). Both are removed
    when the loop ends, or when the generator is closed (use contextlib.closing)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    cluster = None
    try:
        for backend in backends.split(","):
            if backend == "sqlite":
                yield backend, f"sqlite:///{workdir / 'bench.sqlite3'}"
            else:
                from tests.pg_cluster import start_cluster

                cluster = start_cluster()
                yield backend, cluster.create_database(name)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
