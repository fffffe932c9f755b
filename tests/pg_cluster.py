"""A throwaway PostgreSQL cluster for the suite: initdb + pg_ctl in a temp dir.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user and the
commands run through `runuser`. It listens only on 127.0.0.1 at a free port. If the server
binaries are missing the suite fails: it never silently skips PostgreSQL.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _bin_dir() -> Path:
    override = os.environ.get("PG_BIN")
    if override:
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    directory: Path
    port: int
    bin_dir: Path
    as_postgres: bool

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, cwd=self.directory, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        return self.url(name)

    def start(self) -> None:
        """Start the server (again, after `shut_down`: same data, same port)."""
        self._run(
            "pg_ctl", "-D", str(self.directory / "data"), "-l", str(self.directory / "server.log"), "-w", "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300",
            "start",
        )

    def shut_down(self) -> None:
        """Stop the server but keep its data, as an outage would (`start` brings it back)."""
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_cluster() -> Cluster:
    bin_dir = _bin_dir()
    as_postgres = os.geteuid() == 0
    directory = Path(tempfile.mkdtemp(prefix="manabi-pg-"))
    if as_postgres:
        shutil.chown(directory, "postgres", "postgres")
        os.chmod(directory, 0o700)
    cluster = Cluster(directory, _free_port(), bin_dir, as_postgres)
    data = directory / "data"
    cluster._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
                 "-E", "UTF8", "--locale", "C")
    cluster.start()
    return cluster
