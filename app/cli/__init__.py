"""The command line at the edge: registers every domain's command group on the app (`flask db`,
`flask org`, `flask demo` …), the scheduler process (`flask scheduler run`) and `flask serve`, the
single-process server `make run` uses."""
from __future__ import annotations

import signal

import click
from flask import Flask, current_app
from werkzeug.serving import run_simple

from app.api.cli import api_group
from app.auth.cli import auth_group
from app.auth.directory_sync import sync_ldap_cmd
from app.backup.cli import backup_group
from app.catalog.cli import catalog_group
from app.cli.mail_check import mail_group
from app.cli.scheduled_jobs import scheduled_jobs
from app.core.migrate_cli import db_group
from app.core.scheduler import build_scheduler, release_lease
from app.demo.cli import demo_group
from app.jobs.cli import jobs_group
from app.org.cli import org_group
from app.reminders.cli import reminders_group
from app.retention.cli import retention_group


def init_app(app: Flask) -> None:
    org_group.add_command(sync_ldap_cmd)  # `flask org sync-ldap`: in auth, which reads the directory
    for group in (db_group, org_group, demo_group, catalog_group, reminders_group, scheduler_group,
                  backup_group, jobs_group, retention_group, auth_group, mail_group, api_group):
        app.cli.add_command(group)
    app.cli.add_command(serve_cmd)


@click.group("scheduler", help="The scheduler process.")
def scheduler_group() -> None:
    pass


@scheduler_group.command("run")
def scheduler_run_cmd() -> None:
    """Run the scheduler in the foreground (one per installation; a second copy stands by)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler, holder = build_scheduler(app, scheduled_jobs(app), blocking=True)
    click.echo(f"scheduler {holder} started (Ctrl+C to stop)")
    # systemd stops services with SIGTERM: treat it like Ctrl+C, so running jobs finish and the lease is
    # released at once (the standby takes over now rather than after the lease expires).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        with app.app_context():
            release_lease(holder)
        click.echo(f"scheduler {holder} stopped, lease released")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler in this process.")
def serve_cmd(host: str, port: int, no_scheduler: bool) -> None:
    """Serve the app with the scheduler in a background thread (the embedded, single-process set-up)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler = None
    if not no_scheduler:
        scheduler, holder = build_scheduler(app, scheduled_jobs(app), blocking=False)
        scheduler.start()
        click.echo(f"scheduler running in this process ({holder})")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
