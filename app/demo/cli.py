from __future__ import annotations

from datetime import date, datetime

import click
from flask.cli import with_appcontext

from app.catalog.demo import load_demo_catalog
from app.cohorts.demo import load_demo_cohort, load_demo_fieldwork
from app.core.clock import TOKYO, moved_to, now, today
from app.core.db import db_session
from app.demo.desk import load_demo_desk
from app.demo.half_year import load_demo_half_year_report
from app.demo.history import load_demo_history
from app.demo.organisation import DEMO_PASSWORD, DemoLogin, load_demo_organisation
from app.demo.recurrence import load_demo_recurrence
from app.demo.today import load_demo_today
from app.demo.transfers import load_demo_transfer
from app.demo.web_meeting import load_demo_web_meeting
from app.elearning.demo import load_demo_media
from app.reports.demo import load_demo_compliance
from app.scheduling.demo import load_demo_sessions


def load_demo(day: date | None = None) -> list[DemoLogin]:
    """The fictional prefecture in the fiscal year of `day` (default: today), built as it would
    stand on that day: its catalog from courses/ as that year's (quizzes included), the grade
    training held so far, the last 上期 and its published report, a session running today with
    check-in open, sessions and deadlines ahead (every one on a business day), a cohort midway
    through its fieldwork, and something waiting for each role. Idempotent. Returns one login per
    role. A `day` other than today is built on a clock moved to that day (the time of day kept)."""
    if day is None or day == today():
        return _load()
    local = now().astimezone(TOKYO)
    with moved_to(datetime.combine(day, local.time(), TOKYO)):
        return _load()


def _load() -> list[DemoLogin]:
    logins = load_demo_organisation()
    load_demo_catalog()
    load_demo_media()
    load_demo_sessions()
    load_demo_web_meeting()
    load_demo_transfer()
    load_demo_history()
    load_demo_cohort()
    load_demo_fieldwork()
    load_demo_half_year_report()  # after what the half held, so its published figures include it
    load_demo_today()
    load_demo_compliance()
    load_demo_recurrence()
    load_demo_desk()
    return logins


@click.group("demo", help="Demo data for trying Manabi out.")
def demo_group() -> None:
    pass


@demo_group.command("load")
@click.option("--today", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Build the demo as it would stand on this day (YYYY-MM-DD; default: today).")
@with_appcontext
def demo_load_cmd(day: datetime | None) -> None:
    """Load the fictional prefecture (idempotent) and print one login per role."""
    logins = load_demo(day.date() if day is not None else None)
    db_session.commit()
    click.echo("")
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD})")
    for login in logins:
        click.echo(f"  {login.role:<26} {login.login:<10} {login.name}  {login.note}")
