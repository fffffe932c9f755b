"""Sending a large backlog from several processes at once.

One sender is bound by one core and by a round trip per message (each sent mark commits before
the next message goes out). A backlog of tens of thousands (a scan that queued a whole
programme's reminders, a mail server that was down for an hour) goes out faster from several.
The senders split the work through the claims (app/reminders/delivery.py), so every message still
goes out once, and each sender keeps the one-message guarantee if it dies.

Extra senders start only when more than two batches are due. They are fresh interpreters (spawn:
nothing inherited from a threaded parent), built from this app's configuration, and stop when
nothing is left; if one dies, its claims are recovered as stale by the next sweep.
"""
from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.db import db_session
from app.mail import Transport, transport_from_config
from app.reminders.delivery import DeliveryReport, deliver_due, due_conditions
from app.reminders.models import Notification

log = logging.getLogger(__name__)


def due_backlog(at: datetime, up_to: int) -> int:
    """How many rows a sweep at `at` would send, counted no further than `up_to` (an index range
    scan). Outside office hours only urgent ones count, so a night of waiting mail starts no one."""
    due = select(Notification.id).where(*due_conditions(at)).limit(up_to).subquery()
    count = db_session.scalar(select(func.count()).select_from(due)) or 0
    db_session.commit()
    return count


def deliver_with_senders(app: Flask, at: datetime, *, worker: str, senders: int, batch: int = 200,
                         max_batches: int = 1000, stale_after: timedelta = timedelta(minutes=10),
                         transport: Transport | None = None) -> DeliveryReport:
    """Send everything due at `at`: in this process, joined by `senders - 1` more for a backlog.
    Call inside an app context; returns the combined report."""
    transport = transport or transport_from_config(app.config)
    extra = senders - 1 if senders > 1 and due_backlog(at, 2 * batch + 1) > 2 * batch else 0
    if not extra:
        return deliver_due(at, transport, worker=worker, batch=batch, max_batches=max_batches, stale_after=stale_after)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    children = [context.Process(target=_sender_main, daemon=True, name=f"manabi-sender-{n}", args=(
        portable_config(app), at, f"{worker}/{n}", batch, max_batches, stale_after, results))
        for n in range(1, extra + 1)]
    for child in children:
        child.start()
    try:
        report = deliver_due(at, transport, worker=worker, batch=batch, max_batches=max_batches,
                             stale_after=stale_after)
    finally:
        for child in children:
            child.join(timeout=stale_after.total_seconds())
            if child.is_alive():  # its claims go stale and are recovered; never two senders on one row
                child.terminate()
                child.join()
    for child in children:  # each sender that finished put its report (small: it fits the pipe)
        try:
            if child.exitcode != 0:
                raise queue.Empty
            _merge(report, results.get(timeout=5))
        except queue.Empty:
            report.errors.append(f"{child.name} ended with exit code {child.exitcode}")
            log.error("%s ended with exit code %s", child.name, child.exitcode)
    return report


def portable_config(app: Flask) -> dict[str, Any]:
    """The app's settings that can cross to another process (everything but live objects)."""
    portable = {}
    for key, value in app.config.items():
        if key.isupper():
            try:
                pickle.dumps(value)
            except Exception:  # noqa: BLE001 - a setting that cannot be pickled stays behind
                continue
            portable[key] = value
    return portable


def _sender_main(config: dict[str, Any], at: datetime, worker: str, batch: int, max_batches: int,
                 stale_after: timedelta, results: Any) -> None:
    from app import create_app

    app = create_app(SimpleNamespace(**config))  # type: ignore[arg-type]
    try:
        with app.app_context():
            try:
                report = deliver_due(at, transport_from_config(app.config), worker=worker, batch=batch,
                                     max_batches=max_batches, stale_after=stale_after)
            finally:
                db_session.remove()
    finally:
        app.extensions["manabi.engine"].dispose()
    summary = asdict(report)
    summary["errors"] = summary["errors"][:20]  # small enough for the pipe, enough for the log
    results.put(summary)


def _merge(report: DeliveryReport, other: dict[str, Any]) -> None:
    for field in fields(DeliveryReport):
        if field.name == "errors":
            report.errors.extend(other["errors"])
        else:
            setattr(report, field.name, getattr(report, field.name) + other[field.name])
