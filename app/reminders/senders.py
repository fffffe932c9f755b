"""Sending a large backlog from several processes at once.

One sender is bound by one core and by a round trip per message (each sent mark commits before
the next message goes out). A backlog of tens of thousands (a scan that queued a whole
programme's reminders, a mail server that was down for an hour) goes out faster from several.
The senders split the work through the claims (app/reminders/delivery.py), so every message still
goes out once, and each sender keeps the one-message guarantee if it dies.

Extra senders start only when more than two batches are due. They are fresh interpreters (spawn:
nothing inherited from a threaded parent), built from this app's configuration, and stop when
nothing is left. Each holds its claims on a heartbeat of its own (worker name `<parent>/<n>`); if
one dies, this process hands its claims back as soon as it sees the exit; if this process dies
too, the next sweep takes them back once their heartbeats expire (app/reminders/delivery.py).
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

from app.core.db import db_session
from app.core.mail import Transport, transport_from_config
from app.reminders.delivery import DeliveryReport, deliver_due, due_conditions, release_claims
from app.reminders.models import Notification

log = logging.getLogger(__name__)
# How long this process waits for an extra sender to finish once its own part is done (each has
# at most a batch left by then); one still running after that is stopped and its claims handed back.
CHILD_PATIENCE = timedelta(minutes=10)


def due_backlog(at: datetime, up_to: int) -> int:
    """How many rows a sweep at `at` would send, counted no further than `up_to` (an index range
    scan). Outside office hours only urgent ones count, so a night of waiting mail starts no one."""
    due = select(Notification.id).where(*due_conditions(at)).limit(up_to).subquery()
    count = db_session.scalar(select(func.count()).select_from(due)) or 0
    db_session.commit()
    return count


def deliver_with_senders(app: Flask, at: datetime, *, worker: str, senders: int, batch: int = 200,
                         max_batches: int = 1000, transport: Transport | None = None) -> DeliveryReport:
    """Send everything due at `at`: in this process, joined by `senders - 1` more for a backlog.
    Call inside an app context; returns the combined report."""
    transport = transport or transport_from_config(app.config)
    extra = senders - 1 if senders > 1 and due_backlog(at, 2 * batch + 1) > 2 * batch else 0
    if not extra:
        return deliver_due(at, transport, worker=worker, batch=batch, max_batches=max_batches)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    children = [context.Process(target=_sender_main, daemon=True, name=f"manabi-sender-{n}", args=(
        portable_config(app), at, f"{worker}/{n}", batch, max_batches, results))
        for n in range(1, extra + 1)]
    for child in children:
        child.start()
    try:
        report = deliver_due(at, transport, worker=worker, batch=batch, max_batches=max_batches)
    finally:
        for child in children:
            child.join(timeout=CHILD_PATIENCE.total_seconds())
            if child.is_alive():  # stopped first, so never two senders on one row
                child.terminate()
                child.join()
    for number, child in enumerate(children, start=1):  # each that finished put its report (it fits the pipe)
        try:
            if child.exitcode != 0:
                raise queue.Empty
            _merge(report, results.get(timeout=5))
        except queue.Empty:
            # It is gone: what it still held goes back now rather than when its heartbeat expires.
            report.reclaimed += release_claims(f"{worker}/{number}")
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
            except Exception:
                continue
            portable[key] = value
    return portable


def _sender_main(config: dict[str, Any], at: datetime, worker: str, batch: int, max_batches: int,
                 results: Any) -> None:
    from app import create_app  # cycle: a sender process builds the whole app, whose factory imports this module

    app = create_app(SimpleNamespace(**config))  # type: ignore[arg-type]
    try:
        with app.app_context():
            try:
                report = deliver_due(at, transport_from_config(app.config), worker=worker, batch=batch,
                                     max_batches=max_batches)
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
