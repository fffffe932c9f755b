"""Database plumbing: the declarative Base, the engine, and the request-scoped `db_session`.

Services use `db_session` and flush; only the edge (a view, a CLI command, a job wrapper) commits.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

from flask import Flask, current_app, request
from sqlalchemy import (
    Connection,
    CursorResult,
    Date,
    DateTime,
    Engine,
    Enum,
    Integer,
    MetaData,
    Result,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: always timezone-aware UTC in Python, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; use app.core.clock.now()")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), date: Date()}


class AppBoundSession(Session):
    """A session that talks to the current app's database.

    Binding per app (not once, globally) lets a test run a live server app beside the app under
    a rolled-back test transaction; tests swap `manabi.bind` for a Connection inside a transaction.
    """

    def get_bind(self, *args: Any, **kwargs: Any) -> Engine | Connection:
        return current_app.extensions["manabi.bind"]


db_session = scoped_session(
    sessionmaker(class_=AppBoundSession, expire_on_commit=False, join_transaction_mode="create_savepoint")
)


def make_engine(url: str, pool_timeout: float = 10) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL, a busy timeout and explicit BEGINs. A
    database error's text leaves out the statement's values (names, addresses, free text), so a
    logged exception carries none (`hide_parameters`)."""
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}, "hide_parameters": True}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, in_memory="poolclass" in kwargs)
        return engine
    # An unreachable host (not a refused connection) would hold a worker for the TCP timeout
    # before the 503 page: give up connecting after 5 s, and on a free pooled connection after
    # DATABASE_POOL_TIMEOUT (10 s).
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=pool_timeout,
                         connect_args={"connect_timeout": 5}, hide_parameters=True)


def _configure_sqlite(engine: Engine, in_memory: bool) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and BEGIN IMMEDIATE; take it over.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin") or _begin_mode.get()
        connection.exec_driver_sql(f"BEGIN {mode}")


# SQLite has one writer. A transaction that starts as a reader and later writes cannot wait for
# the lock (its snapshot may be stale): SQLite answers "database is locked" at once. So every unit
# of work that may write takes the write lock with its first statement (BEGIN IMMEDIATE, waiting
# up to the busy timeout), and only a safe HTTP request (GET, HEAD, OPTIONS) reads without it.
# This is the one place that decides it, for views, CLI commands, jobs and sender processes alike:
# outside a request the default is to write. PostgreSQL is unaffected (row locks and guarded
# UPDATEs, ARCHITECTURE.md rule 11).
_begin_mode: ContextVar[str] = ContextVar("manabi_sqlite_begin", default="IMMEDIATE")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_engine(app: Flask) -> Engine:
    return app.extensions["manabi.engine"]


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"], app.config.get("DATABASE_POOL_TIMEOUT", 10))
    app.extensions["manabi.engine"] = engine
    app.extensions["manabi.bind"] = engine

    @app.before_request
    def _declare_write_intent() -> None:
        _begin_mode.set("DEFERRED" if request.method in SAFE_METHODS else "IMMEDIATE")

    @app.teardown_request
    def _forget_write_intent(_exc: BaseException | None) -> None:
        _begin_mode.set("IMMEDIATE")

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        db_session.remove()


def begin_write_transaction() -> None:
    """Start the current transaction as a writer (BEGIN IMMEDIATE on SQLite) even where the
    default would read (a safe HTTP request). Outside safe requests every transaction already
    starts so (see `_begin_mode`). A session already inside a transaction is left as it is; on a
    connection whose transaction has begun already (the test suite binds one) the mode changes
    nothing."""
    bind = db_session.get_bind()
    if bind.dialect.name != "sqlite" or db_session().in_transaction():
        return
    db_session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def among(column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids` for long lists of ids. On PostgreSQL it is one array parameter (= ANY), so
    the statement's text stays the same for any number of ids: neither SQLAlchemy nor psycopg
    renders and parses hundreds of placeholders, and the server can reuse the prepared plan."""
    if db_session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


def rows_among(statement: Any, column: Any, ids: Iterable[int], chunk: int = 500) -> Iterator[Any]:
    """The rows of `statement` whose `column` is one of `ids`, read `chunk` ids at a time (well under
    every backend's parameter limit however many ids a batch brings)."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), chunk):
        yield from db_session.execute(statement.where(among(column, ordered[start:start + chunk])))


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE, DELETE or INSERT touched (SQLAlchemy's typed Result hides the
    cursor's rowcount; a guarded transition reads it to know whether it won)."""
    return cast("CursorResult[Any]", result).rowcount


def enum_column(enum_class: type[Any], length: int = 20) -> Any:
    """A portable enum column that stores the members' values ('hr'), not their names ('HR')."""
    return Enum(enum_class, native_enum=False, length=length, validate_strings=True, create_constraint=True,
                values_callable=lambda members: [m.value for m in members],
                name=enum_class.__name__.lower())
