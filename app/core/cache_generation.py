"""The data generation: one random token in the database, replaced by every transaction that writes.

Cached pages are keyed by the token they were rendered under, so a commit in any worker or
process (web, scheduler, CLI) makes every page cached before it unreachable at once.

- A write is noticed by session events: `after_flush` (unit of work) and `do_orm_execute`
  (INSERT/UPDATE/DELETE statements sent through `db_session.execute`).
- The token is replaced in `before_commit` of the outermost transaction (not a savepoint's), as
  its last statement: on PostgreSQL whoever holds that row lock is about to commit and waits for
  nothing else, so writers queue on it briefly and never deadlock; on SQLite the writer already
  holds the write lock by then.
- The new token is a fresh uuid4, never a counter: a rolled-back transaction cannot make an
  old token current again.
- Writes that no cached page shows (sign-in throttling, session rows, the scheduler's lease, the
  audit log) do not count, so a sign-in or a lease renewal does not empty every cache.
- Writes that bypass both (a Core statement on `db_session.connection()`, another connection,
  migrations, the benchmark loader) are not seen: call `bump()` in the same db_session
  transaction if pages show what they write.
"""
from __future__ import annotations

import uuid
from typing import Any, cast

from flask import Flask
from sqlalchemy import ColumnElement, String, Table, TextClause, event, select, update
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, SessionTransaction, mapped_column

from app.core.db import AppBoundSession, Base, db_session

PAGES = "pages"  # what the catalog and team pages are keyed by; one row per name
_WROTE = "manabi.wrote"  # this session has written at some point (never cleared): do not cache
_PENDING = "manabi.generation_pending"  # this transaction wrote: replace the token before commit

# Tables whose rows no cached page shows; writes to them leave the generation alone.
# Session rows: the page cache checks the browser's row with the generation (app/auth/page_cache.py),
# so signing in or out, and a session's activity stamp, change no cached page.
UNSHOWN_TABLES = frozenset({"cache_generations", "login_throttles", "scheduler_leases", "audit_events",
                            "user_sessions", "login_unlocks", "background_jobs"})


class CacheGeneration(Base):
    __tablename__ = "cache_generations"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


_table = cast(Table, CacheGeneration.__table__)
_read_token = select(_table.c.token).where(_table.c.name == PAGES)


def new_token() -> str:
    return uuid.uuid4().hex


def current_token(condition: ColumnElement[bool] | None = None) -> str | None:
    """The token as this request's transaction sees it (None if the row is missing: no caching).

    Read it before anything the page shows, so the page is never older than its key. `condition`
    is checked in the same statement (None when it does not hold): the page cache asks whether the
    browser's session is still active without a statement of its own.
    """
    statement = _read_token if condition is None else _read_token.where(condition)
    return db_session.connection().execute(statement).scalar()


def session_wrote() -> bool:
    """True once the request's session has written anything (such pages are never cached)."""
    return bool(db_session().info.get(_WROTE))


def bump(orm_session: Session | None = None) -> None:
    """Mark the current transaction as a writer: the token is replaced when it commits."""
    _mark(orm_session if orm_session is not None else db_session())


def _mark(orm_session: Session) -> None:
    orm_session.info[_WROTE] = True
    orm_session.info[_PENDING] = True


def _after_flush(orm_session: Session, _context: Any) -> None:
    if orm_session.info.get(_PENDING):
        return  # already a writer: spare big sessions the scan below on every flush
    # In after_flush the session's new/dirty/deleted still list what the flush wrote; `dirty`
    # (a scan of the identity map) is only looked at if the others held only unshown tables.
    if _any_shown(orm_session.new) or _any_shown(orm_session.deleted) or _any_shown(orm_session.dirty):
        _mark(orm_session)


def _any_shown(instances: Any) -> bool:
    return any(getattr(instance, "__tablename__", None) not in UNSHOWN_TABLES for instance in instances)


def _on_execute(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) not in UNSHOWN_TABLES:
            _mark(state.session)
    elif isinstance(state.statement, TextClause) and not state.statement.text.lstrip().upper().startswith("SELECT"):
        _mark(state.session)  # hand-written SQL that may write: assume it does


def _before_commit(orm_session: Session) -> None:
    if orm_session.in_nested_transaction():
        return  # a savepoint: the outermost commit replaces the token, so the lock is taken last
    orm_session.flush()  # commit would flush after this hook; flush first so those writes count
    if orm_session.info.get(_PENDING):
        # The transaction's last statement. One row today; with more names, update them in
        # sorted order so two writers always lock them in the same order.
        orm_session.connection().execute(update(_table).where(_table.c.name == PAGES).values(token=new_token()))


def _after_transaction_end(orm_session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction: a savepoint rolled back leaves earlier writes in place.
    if transaction.parent is None:
        orm_session.info.pop(_PENDING, None)


def init_app(_app: Flask) -> None:
    for name, listener in (("after_flush", _after_flush), ("do_orm_execute", _on_execute),
                           ("before_commit", _before_commit), ("after_transaction_end", _after_transaction_end)):
        if not event.contains(AppBoundSession, name, listener):
            event.listen(AppBoundSession, name, listener)
