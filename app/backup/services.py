"""Create, verify and restore a backup archive.

An archive is a gzip-compressed tar with, in this order:

    database.sqlite3 | database.pgdump   the database at one instant (see below)
    uploads/…                            every regular file under UPLOAD_DIR, same relative paths
    manifest.json                        format version, created_at (UTC), backend, the Alembic
                                         revision, per-table row counts, and the sha256 and size
                                         of every other member

The database copy is consistent while the app keeps running:
- SQLite: the online backup API (`sqlite3.Connection.backup`) inside one read transaction, so
  the copy is one snapshot even in WAL mode, where copying the file (and its -wal) is unsafe.
- PostgreSQL: `pg_dump --format=custom` of a snapshot exported by a REPEATABLE READ transaction
  that also counts the rows, so the counts in the manifest describe exactly what was dumped.

Restore reads the whole archive into a scratch directory and checks every checksum, the backend
and the revision before it touches anything; it goes only into an empty database and an uploads
folder without files, then compares the restored row counts with the manifest. An archive made
at an older revision restores as it is (the operator then runs `flask db upgrade`); one made by
newer code, at a revision this code does not know, is refused.

The uploads are read file by file while the app runs: a file added during the backup may or may
not be in it, and one deleted during the backup is left out (and said so).
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.core.clock import now
from app.core.migrate_cli import MIGRATIONS_DIR

FORMAT = "manabi-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
UPLOADS_PREFIX = "uploads/"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
BACKEND_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
CHUNK = 1024 * 1024
SQLITE_PAGES_PER_STEP = 4096  # 16 MiB of 4 KiB pages between progress lines
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

Progress = Callable[[str], None]


def _silent(_message: str) -> None:
    pass


class BackupError(Exception):
    """A problem the operator can act on; the message says what, where, and what was (not) done."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int
    backend: str
    revision: str | None
    tables: dict[str, int]
    upload_files: int
    upload_bytes: int
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreReport:
    backend: str
    revision: str | None
    revision_status: str  # "current" | "older" | "none" (no alembic_version in the backup)
    head: str | None
    tables: dict[str, int]
    upload_files: int
    sequences_advanced: list[str] = field(default_factory=list)


# --- the database URL ------------------------------------------------------------------------


def backend_of(database_url: str) -> str:
    name = make_url(database_url).get_backend_name()
    if name not in DATABASE_MEMBERS:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name!r}")
    return name


def display_url(database_url: str) -> str:
    """The URL with its password hidden, for messages."""
    return make_url(database_url).render_as_string(hide_password=True)


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored; "
                          "DATABASE_URL must name a file (sqlite:///path/to/manabi.sqlite3)")
    return Path(database)


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore (no password on the command line: it goes
    in PGPASSWORD, which other users cannot read from the process list)."""
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def find_pg_tool(name: str) -> str:
    """pg_dump / pg_restore: from $PG_BIN, else PATH, else the newest /usr/lib/postgresql/*/bin."""
    override = os.environ.get("PG_BIN")
    if override and (Path(override) / name).is_file():
        return str(Path(override) / name)
    found = shutil.which(name)
    if found:
        return found

    def version(candidate: str) -> tuple[int, ...]:
        number = Path(candidate).parent.parent.name
        return tuple(int(part) for part in number.split(".") if part.isdigit())

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    if candidates:
        return candidates[-1]
    raise BackupError(f"{name} not found (looked in $PG_BIN, PATH and /usr/lib/postgresql/*/bin); "
                      "install PostgreSQL's client tools (Debian: postgresql-client)")


def _run_pg_tool(command: list[str], env: dict[str, str], progress: Progress, marker: str) -> None:
    """Run pg_dump/pg_restore --verbose: lines naming a table become progress, errors the message."""
    tool = Path(command[0]).name
    kept: list[str] = []
    try:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, errors="replace")
    except OSError as exc:
        raise BackupError(f"could not start {tool}: {exc}") from exc
    with process:
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip()
            if marker in line:
                progress("  " + line.split(": ", 1)[-1])
            elif line:
                kept.append(line)
    if process.returncode != 0:
        errors = [line for line in kept if any(tag in line for tag in (" error:", " detail:", " hint:",
                                                                       "ERROR:", "DETAIL:", "HINT:"))]
        raise BackupError(f"{tool} failed (exit status {process.returncode}):\n  "
                          + "\n  ".join(errors or kept[-5:] or ["(no message)"]))


def _connect_postgresql(database_url: str) -> Any:
    return create_engine(database_url, poolclass=NullPool)


def _quoted(connection: Connection, name: str) -> str:
    preparer = connection.dialect.identifier_preparer
    return ".".join(preparer.quote_identifier(part) for part in name.split(".", 1)) if "." in name \
        else preparer.quote_identifier(name)


def _postgresql_tables(connection: Connection) -> list[str]:
    rows = connection.execute(text(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY table_schema, table_name"))
    return [name if schema == "public" else f"{schema}.{name}" for schema, name in rows]


def _postgresql_counts(connection: Connection) -> dict[str, int]:
    return {table: connection.execute(text(f"SELECT count(*) FROM {_quoted(connection, table)}")).scalar_one()
            for table in _postgresql_tables(connection)}


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                              "ORDER BY name").fetchall()
    return [name for (name,) in rows]


def _sqlite_counts(connection: sqlite3.Connection) -> dict[str, int]:
    return {table: connection.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
            for table in _sqlite_tables(connection)}


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    if "alembic_version" not in _sqlite_tables(connection):
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _postgresql_revision(connection: Connection) -> str | None:
    if "alembic_version" not in _postgresql_tables(connection):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


# --- create ----------------------------------------------------------------------------------


@dataclass
class _Snapshot:
    tables: dict[str, int]
    revision: str | None
    server_version: str


def _percent_reporter(label: str, progress: Progress) -> Callable[[int, int, int], None]:
    shown = -1

    def report(_status: int, remaining: int, total: int) -> None:
        nonlocal shown
        percent = 100 * (total - remaining) // max(total, 1)
        if percent // 10 > shown // 10 or (percent == 100 and shown != 100):
            shown = percent
            progress(f"  {label}: {percent}% of {total:,} pages")

    return report


def _dump_sqlite(database_url: str, target: Path, progress: Progress) -> _Snapshot:
    source_path = _sqlite_path(database_url)
    if not source_path.is_file():
        raise BackupError(f"{source_path}: no such database file")
    progress(f"copying the SQLite database {source_path} (online backup API)")
    try:
        with closing(sqlite3.connect(source_path, timeout=30, isolation_level=None)) as source, \
                closing(sqlite3.connect(target, isolation_level=None)) as copy:
            # One read transaction for every step: the copy is one snapshot however long it takes,
            # and in WAL mode it never blocks the app's writers.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            source.backup(copy, pages=SQLITE_PAGES_PER_STEP, progress=_percent_reporter("copied", progress))
            source.execute("COMMIT")
            copy.execute("PRAGMA journal_mode=DELETE").fetchone()  # one self-contained file, no -wal
            check = copy.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise BackupError(f"{source_path}: SQLite's quick_check fails on the copy: "
                                  + "; ".join(str(row[0]) for row in check[:5]))
            return _Snapshot(_sqlite_counts(copy), _sqlite_revision(copy), f"SQLite {sqlite3.sqlite_version}")
    except sqlite3.Error as exc:
        raise BackupError(f"{source_path}: {exc}") from exc


def _dump_postgresql(database_url: str, target: Path, progress: Progress) -> _Snapshot:
    pg_dump = find_pg_tool("pg_dump")
    uri, env = _libpq(database_url)
    engine = _connect_postgresql(database_url)
    progress(f"dumping the PostgreSQL database {display_url(database_url)} ({pg_dump})")
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            tables = _postgresql_counts(connection)
            revision = _postgresql_revision(connection)
            server = connection.execute(text("SHOW server_version")).scalar_one()
            progress(f"  {len(tables)} tables, {sum(tables.values()):,} rows in snapshot {snapshot}")
            # pg_dump reads the very snapshot the counts were taken in (the transaction stays open).
            _run_pg_tool([pg_dump, "--format=custom", "--compress=0", f"--snapshot={snapshot}", "--no-password",
                          "--verbose", f"--file={target}", f"--dbname={uri}"], env, progress,
                         "dumping contents of table")
            connection.rollback()
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot read the database {display_url(database_url)}: {exc.__cause__ or exc}") from exc
    finally:
        engine.dispose()
    return _Snapshot(tables, revision, f"PostgreSQL {server}")


class _HashingReader:
    """Reads a file for tarfile while hashing exactly the bytes that go into the archive."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _add_file(archive: tarfile.TarFile, source: Path, name: str) -> dict[str, Any]:
    with open(source, "rb") as handle:
        status = os.fstat(handle.fileno())
        info = tarfile.TarInfo(name)
        info.size = status.st_size
        info.mtime = int(status.st_mtime)
        info.mode = 0o644
        reader = _HashingReader(handle)
        archive.addfile(info, reader)
    return {"sha256": reader.digest.hexdigest(), "size": reader.size}


def _upload_files(upload_dir: Path, skipped: list[str]) -> Iterator[tuple[Path, str]]:
    """Every regular file under upload_dir, in a stable order, with its name in the archive."""
    if not upload_dir.is_dir():
        return
    for root, directories, names in os.walk(upload_dir):
        directories.sort()
        for name in sorted(names):
            path = Path(root) / name
            relative = path.relative_to(upload_dir).as_posix()
            if path.is_symlink() or not path.is_file():
                skipped.append(f"{relative} (not a regular file)")
                continue
            yield path, UPLOADS_PREFIX + relative


def _archive_path(path: Path) -> Path:
    if path.is_dir():
        return path / f"manabi-{now().strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
    return path


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    # File names that are not UTF-8 survive the trip as surrogate escapes (as tarfile keeps them).
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogateescape")


def create_backup(database_url: str, upload_dir: Path, path: Path, *, progress: Progress = _silent) -> BackupReport:
    """Write one archive of the database and the uploads to `path` (a file name, or a directory
    to put a time-stamped archive in). The archive appears under its name only when complete."""
    backend = backend_of(database_url)
    target = _archive_path(Path(path))
    if target.exists():
        raise BackupError(f"{target} already exists; give a new file name (backups are never overwritten)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such directory")
    partial = target.with_name(target.name + ".partial")
    created_at = now()
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="manabi-backup-") as scratch:
        dump = Path(scratch) / DATABASE_MEMBERS[backend]
        snapshot = (_dump_sqlite if backend == "sqlite" else _dump_postgresql)(database_url, dump, progress)
        progress(f"writing {target}")
        if not Path(upload_dir).is_dir():
            progress(f"  the uploads folder {upload_dir} does not exist: no uploads to back up")
        files: dict[str, dict[str, Any]] = {}
        try:
            # Readable by its owner only: it holds personal data and password hashes.
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "wb") as raw, \
                    tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as archive:
                files[dump.name] = _add_file(archive, dump, dump.name)
                upload_bytes = 0
                for source, name in _upload_files(Path(upload_dir), skipped):
                    try:
                        files[name] = _add_file(archive, source, name)
                    except FileNotFoundError:
                        skipped.append(f"{name[len(UPLOADS_PREFIX):]} (deleted during the backup)")
                        continue
                    upload_bytes += files[name]["size"]
                    if (len(files) - 1) % 1000 == 0:
                        progress(f"  uploads: {len(files) - 1:,} files")
                upload_count = len(files) - 1
                progress(f"  uploads: {upload_count:,} files, {upload_bytes:,} bytes from {upload_dir}")
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": created_at.isoformat().replace("+00:00", "Z"),
                    "backend": backend,
                    "database_file": dump.name,
                    "server_version": snapshot.server_version,
                    "alembic_revision": snapshot.revision,
                    "tables": snapshot.tables,
                    "uploads": {"files": upload_count, "bytes": upload_bytes},
                    "files": files,
                }
                data = _manifest_bytes(manifest)
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size, info.mtime, info.mode = len(data), int(created_at.timestamp()), 0o644
                archive.addfile(info, io.BytesIO(data))
                archive.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    for line in skipped:
        progress(f"  left out: {line}")
    return BackupReport(target, target.stat().st_size, backend, snapshot.revision, snapshot.tables, upload_count,
                        upload_bytes, skipped)


# --- verify ----------------------------------------------------------------------------------


def _member_name(archive_path: Path, member: tarfile.TarInfo) -> str:
    name = member.name
    parts = PurePosixPath(name).parts
    allowed = name == MANIFEST_NAME or name in DATABASE_MEMBERS.values() or name.startswith(UPLOADS_PREFIX) \
        or name == UPLOADS_PREFIX.rstrip("/")
    if not allowed or name.startswith("/") or ".." in parts or "" in name.split("/")[:-1]:
        raise BackupError(f"{archive_path}: unexpected member {name!r}; this is not a Manabi backup, "
                          "nothing was restored")
    return name


def read_archive(path: Path, staging: Path | None = None, *, progress: Progress = _silent) -> dict[str, Any]:
    """Read the whole archive, checking every member against the manifest; with `staging`, also
    write the members there. Returns the manifest; raises BackupError naming each bad member."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    seen: dict[str, dict[str, Any]] = {}
    manifest_data: bytes | None = None
    progress(f"reading {path} and checking every checksum")
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                name = _member_name(path, member)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BackupError(f"{path}: {name} is not a regular file; this is not a Manabi backup, "
                                      "nothing was restored")
                if name in seen or (name == MANIFEST_NAME and manifest_data is not None):
                    raise BackupError(f"{path}: {name} appears twice; nothing was restored")
                source = archive.extractfile(member)
                assert source is not None
                with source:
                    if name == MANIFEST_NAME:
                        manifest_data = source.read(MAX_MANIFEST_BYTES)
                        continue
                    seen[name] = _copy_member(source, staging / name if staging is not None else None, member.mtime)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupError(f"{path}: the archive is damaged or is not a backup ({exc}); nothing was restored") from exc
    manifest = _parse_manifest(path, manifest_data)
    problems = []
    for name in sorted(set(manifest["files"]) | set(seen)):
        expected, found = manifest["files"].get(name), seen.get(name)
        if found is None:
            problems.append(f"{name}: listed in the manifest but missing from the archive")
        elif expected is None:
            problems.append(f"{name}: in the archive but not listed in the manifest")
        elif (found["sha256"], found["size"]) != (expected.get("sha256"), expected.get("size")):
            problems.append(f"{name}: checksum does not match the manifest (damaged or altered)")
    if problems:
        raise BackupError(f"{path}: the archive does not match its manifest; nothing was restored:\n  "
                          + "\n  ".join(problems))
    progress(f"  {len(seen):,} files match their checksums")
    return manifest


def _copy_member(source: IO[bytes], target: Path | None, mtime: float) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    out = None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = open(target, "xb")
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    if target is not None:
        os.utime(target, (mtime, mtime))
    return {"sha256": digest.hexdigest(), "size": size}


def _parse_manifest(path: Path, data: bytes | None) -> dict[str, Any]:
    if data is None:
        raise BackupError(f"{path}: no {MANIFEST_NAME} in the archive; this is not a Manabi backup (or it was cut "
                          "short), nothing was restored")
    try:
        manifest = json.loads(data.decode("utf-8", "surrogateescape"))
    except ValueError as exc:
        raise BackupError(f"{path}: {MANIFEST_NAME} is not valid JSON ({exc}); nothing was restored") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: {MANIFEST_NAME} is not a Manabi backup manifest; nothing was restored")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path}: backup format version {manifest.get('format_version')!r}; this code reads "
                          f"version {FORMAT_VERSION}. Nothing was restored")
    backend = manifest.get("backend")
    files, tables = manifest.get("files"), manifest.get("tables")
    if backend not in DATABASE_MEMBERS or not isinstance(files, dict) or not isinstance(tables, dict) \
            or DATABASE_MEMBERS[backend] not in files or not all(isinstance(entry, dict) for entry in files.values()) \
            or not all(isinstance(count, int) for count in tables.values()):
        raise BackupError(f"{path}: {MANIFEST_NAME} is incomplete (backend, files, tables); nothing was restored")
    return manifest


# --- restore ---------------------------------------------------------------------------------


def revision_status(revision: str | None) -> tuple[str, str | None]:
    """("current" | "older" | "unknown" | "none", this code's head) for a backup's revision."""
    # Alembic (and Mako) load only when an archive is restored, like the `flask db` commands.
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = script.get_heads()
    head = heads[0] if len(heads) == 1 else ", ".join(heads)
    if revision is None:
        return "none", head
    if revision in heads:
        return "current", head
    try:
        found = script.get_revision(revision)
    except CommandError:  # unknown or ambiguous
        found = None
    return ("older" if found is not None else "unknown"), head


def _check_sqlite_target(database_url: str) -> Path:
    target = _sqlite_path(database_url)
    if target.is_dir():
        raise BackupError(f"{target} is a directory, not a database file")
    if target.exists() and target.stat().st_size > 0:
        try:
            with closing(sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)) as connection:
                tables = _sqlite_tables(connection)
        except sqlite3.Error as exc:
            raise BackupError(f"{target}: cannot read it as a SQLite database ({exc}); restore goes into a new "
                              "file: point DATABASE_URL at a path that does not exist yet") from exc
        if tables:
            raise BackupError(f"the target database {target} is not empty ({len(tables)} tables, e.g. "
                              f"{tables[0]}); restore only goes into an empty database: point DATABASE_URL at a "
                              "new file, or move this one aside. Nothing was restored")
    return target


def _check_postgresql_target(database_url: str) -> None:
    engine = _connect_postgresql(database_url)
    try:
        with engine.connect() as connection:
            names = connection.execute(text(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', "
                "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1")).scalars().all()
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot connect to the target database {display_url(database_url)}: "
                          f"{exc.__cause__ or exc}") from exc
    finally:
        engine.dispose()
    if names:
        raise BackupError(f"the target database {display_url(database_url)} is not empty ({len(names)} tables, "
                          f"sequences and views, e.g. {names[0]}); restore only goes into an empty database: "
                          "create one (createdb -O OWNER NAME) and point DATABASE_URL at it. Nothing was restored")


def _check_uploads_target(upload_dir: Path) -> None:
    if upload_dir.exists() and not upload_dir.is_dir():
        raise BackupError(f"the uploads folder {upload_dir} is not a directory")
    if upload_dir.is_dir():
        for _root, _directories, names in os.walk(upload_dir):
            if names:
                raise BackupError(f"the uploads folder {upload_dir} already holds files; restore only fills an "
                                  "empty one: move it aside (or point UPLOAD_DIR at a new folder). "
                                  "Nothing was restored")


def _restore_sqlite(staged: Path, target: Path, progress: Progress) -> dict[str, int]:
    progress(f"restoring the SQLite database into {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(sqlite3.connect(staged, isolation_level=None)) as source, \
                closing(sqlite3.connect(target, timeout=30, isolation_level=None)) as destination:
            source.backup(destination, pages=SQLITE_PAGES_PER_STEP, progress=_percent_reporter("restored", progress))
        with closing(sqlite3.connect(target, isolation_level=None)) as restored:
            return _sqlite_counts(restored)
    except sqlite3.Error as exc:
        raise BackupError(f"could not write the database {target}: {exc}") from exc


def _restore_postgresql(staged: Path, database_url: str, progress: Progress) -> tuple[dict[str, int], list[str]]:
    pg_restore = find_pg_tool("pg_restore")
    uri, env = _libpq(database_url)
    progress(f"restoring the PostgreSQL database into {display_url(database_url)} ({pg_restore})")
    # One transaction: if any statement fails, nothing of the dump stays in the database.
    _run_pg_tool([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                  "--no-password", "--verbose", f"--dbname={uri}", str(staged)], env, progress,
                 "processing data for table")
    engine = _connect_postgresql(database_url)
    try:
        with engine.begin() as connection:
            advanced = _advance_sequences(connection)
            counts = _postgresql_counts(connection)
    except SQLAlchemyError as exc:
        raise BackupError(f"restored, but cannot read back {display_url(database_url)}: {exc.__cause__ or exc}") \
            from exc
    finally:
        engine.dispose()
    return counts, advanced


def _advance_sequences(connection: Connection) -> list[str]:
    """Move any serial/identity sequence that lags behind its column's highest value up to it.

    pg_dump carries each sequence's position faithfully, including one a bulk load left behind
    (bench/generate.py inserts explicit ids); a restored database must accept its next insert."""
    owned = connection.execute(text(
        "SELECT s.oid::regclass::text, t.oid::regclass::text, a.attname "
        "FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
        "  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
        "JOIN pg_class t ON t.oid = d.refobjid "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
        "WHERE s.relkind = 'S' ORDER BY 1")).all()
    advanced = []
    for sequence, table, column in owned:
        quoted_column = connection.dialect.identifier_preparer.quote_identifier(column)
        highest = connection.execute(text(f"SELECT max({quoted_column}) FROM {table}")).scalar()
        last_value, is_called = connection.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
        if highest is not None and (highest > last_value or (highest == last_value and not is_called)):
            connection.execute(text("SELECT setval(CAST(:sequence AS regclass), :value, true)"),
                               {"sequence": sequence, "value": highest})
            advanced.append(f"{sequence} ({last_value} -> {highest})")
    return advanced


def _restore_uploads(staged: Path, upload_dir: Path, progress: Progress) -> int:
    upload_dir.mkdir(parents=True, exist_ok=True)
    if not staged.is_dir():
        return 0
    count = 0
    for root, _directories, names in os.walk(staged):
        for name in names:
            source = Path(root) / name
            target = upload_dir / source.relative_to(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            count += 1
    progress(f"  uploads: {count:,} files into {upload_dir}")
    return count


def restore_backup(database_url: str, upload_dir: Path, path: Path, *, progress: Progress = _silent) -> RestoreReport:
    """Restore an archive into an empty database and an uploads folder without files.

    Nothing is touched until every checksum, the backend, the revision and the emptiness of both
    targets have been checked."""
    backend = backend_of(database_url)
    upload_dir = Path(upload_dir)
    with tempfile.TemporaryDirectory(prefix="manabi-restore-") as scratch:
        staging = Path(scratch)
        manifest = read_archive(Path(path), staging, progress=progress)
        if manifest["backend"] != backend:
            raise BackupError(
                f"{path} is a backup of a {BACKEND_LABELS[manifest['backend']]} database, and DATABASE_URL points "
                f"at {BACKEND_LABELS[backend]}; restore it into a {BACKEND_LABELS[manifest['backend']]} database "
                "(a dump of one cannot be loaded into the other). Nothing was restored")
        revision = manifest.get("alembic_revision")
        status, head = revision_status(revision)
        if status == "unknown":
            raise BackupError(f"{path} was made at revision {revision}, which this code does not know (a newer "
                              f"version of Manabi made it; this code is at {head}): deploy that version or newer, "
                              "then restore. Nothing was restored")
        if backend == "sqlite":
            target = _check_sqlite_target(database_url)
        else:
            _check_postgresql_target(database_url)
        _check_uploads_target(upload_dir)

        staged = staging / DATABASE_MEMBERS[backend]
        advanced: list[str] = []
        if backend == "sqlite":
            counts = _restore_sqlite(staged, target, progress)
        else:
            counts, advanced = _restore_postgresql(staged, database_url, progress)
        expected = manifest["tables"]
        differences = [f"{table}: {counts.get(table, 'missing')} rows, the manifest says {expected.get(table, 'none')}"
                       for table in sorted(set(counts) | set(expected)) if counts.get(table) != expected.get(table)]
        if differences:
            raise BackupError("the database was restored but does not match the manifest; the uploads were not "
                              "restored:\n  " + "\n  ".join(differences))
        progress(f"  {len(counts)} tables, {sum(counts.values()):,} rows: the counts match the manifest")
        for line in advanced:
            progress(f"  sequence behind its column's highest value, moved up: {line}")
        upload_count = _restore_uploads(staging / UPLOADS_PREFIX.rstrip("/"), upload_dir, progress)
    return RestoreReport(backend, revision, status, head, counts, upload_count, advanced)
