from __future__ import annotations

from datetime import datetime

import click
from flask.cli import with_appcontext

from app.core.clock import TOKYO, now
from app.core.scheduler import worker_name
from app.jobs.runner import run_due


@click.group("jobs", help="Background jobs: a one-shot run of the scheduler's job runner.")
def jobs_group() -> None:
    pass


@jobs_group.command("run-due")
@click.option("--now", "at", help="Pretend it is this time (ISO 8601; Japan time if no offset), "
                                  "for telling which running jobs have stopped.")
@with_appcontext
def run_due_cmd(at: str | None) -> None:
    """Run every queued background job now, one after another."""
    when = now()
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter("use ISO 8601, e.g. 2026-12-01T09:00", param_hint="--now") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=TOKYO)
    ran = run_due(worker_name(), at=when)
    click.echo(f"ran {len(ran)} job(s)" + (f": {', '.join(map(str, ran))}" if ran else ""))
