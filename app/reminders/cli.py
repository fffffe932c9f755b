from __future__ import annotations

from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from app.clock import now
from app.db import db_session


def _parse_now(value: str | None) -> datetime:
    if not value:
        return now()
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        from app.clock import TOKYO

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
    from app.reminders.senders import deliver_with_senders
    from app.scheduler import worker_name

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
    """Evaluate completions of sessions just ended; queue follow-ups and assignment reminders."""
    from app.reminders.scans import scan_assignments, scan_milestones, sweep_ended_sessions

    when = _parse_now(at)
    count = sweep_ended_sessions(when) + scan_assignments(when) + scan_milestones(when)
    db_session.commit()
    click.echo(f"queued {count}")


@reminders_group.command("digest")
@click.option("--now", "at", help="Pretend it is this time (ISO 8601).")
@with_appcontext
def digest_cmd(at: str | None) -> None:
    """Queue the managers' weekly digest."""
    from app.reminders.scans import queue_manager_digests

    count = queue_manager_digests(_parse_now(at))
    db_session.commit()
    click.echo(f"queued {count}")


@click.group("scheduler", help="The scheduler process.")
def scheduler_group() -> None:
    pass


@scheduler_group.command("run")
def scheduler_run_cmd() -> None:
    """Run the scheduler in the foreground (one per installation; a second copy stands by)."""
    from app.scheduler import build_scheduler, release_lease

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler, holder = build_scheduler(app, blocking=True)
    click.echo(f"scheduler {holder} started (Ctrl+C to stop)")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        with app.app_context():
            release_lease(holder)
