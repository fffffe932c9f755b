from __future__ import annotations

from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from app.completion.recertification import run_recurrence
from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.core.scheduler import worker_name
from app.reminders.scans import (
    queue_manager_digests,
    scan_assignments,
    scan_expiring_completions,
    scan_milestones,
    sweep_ended_sessions,
)
from app.reminders.senders import deliver_with_senders


def _parse_now(value: str | None) -> datetime:
    if not value:
        return now()
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=TOKYO)
    return parsed


@click.group("reminders", help="Notifications: one-shot runs of the scheduler's jobs.")
def reminders_group() -> None:
    pass


@reminders_group.command("deliver-due")
@click.option("--now", "at", help="Pretend it is this time (ISO 8601; Japan time if no offset).")
@click.option("--senders", type=click.IntRange(1, 16), default=None,
              help="Processes that send a backlog together (default: REMINDER_SENDERS).")
@with_appcontext
def deliver_due_cmd(at: str | None, senders: int | None) -> None:
    """Send every notification due now."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    report = deliver_with_senders(app, _parse_now(at), worker=worker_name(),
                                  senders=senders or app.config["REMINDER_SENDERS"])
    click.echo(f"claimed {report.claimed}, sent {report.sent}, skipped {report.skipped}, "
               f"retrying {report.retried}, failed {report.failed}, reclaimed {report.reclaimed}, "
               f"rendered anew {report.rerendered}, claims lost {report.claims_lost}")


@reminders_group.command("scan")
@click.option("--now", "at", help="Pretend it is this time (ISO 8601).")
@with_appcontext
def scan_cmd(at: str | None) -> None:
    """Evaluate completions of sessions just ended; open the next cycles of recurring and expired
    training; queue follow-ups, assignment reminders and notices of certificates about to expire."""
    when = _parse_now(at)
    count = sweep_ended_sessions(when)
    cycles = run_recurrence(when.astimezone(TOKYO).date())
    count += scan_assignments(when) + scan_expiring_completions(when) + scan_milestones(when)
    db_session.commit()
    click.echo(f"cycles opened {cycles.opened}, renewals owed {cycles.renewed}, queued {count}")


@reminders_group.command("digest")
@click.option("--now", "at", help="Pretend it is this time (ISO 8601).")
@with_appcontext
def digest_cmd(at: str | None) -> None:
    """Queue the managers' weekly digest."""
    count = queue_manager_digests(_parse_now(at))
    db_session.commit()
    click.echo(f"queued {count}")
