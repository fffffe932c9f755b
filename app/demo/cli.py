from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.catalog.demo import load_demo_catalog
from app.cohorts.demo import load_demo_cohort, load_demo_fieldwork
from app.core.db import db_session
from app.demo.organisation import DEMO_PASSWORD, DemoLogin, load_demo_organisation
from app.demo.recurrence import load_demo_recurrence
from app.demo.transfers import load_demo_transfer
from app.demo.web_meeting import load_demo_web_meeting
from app.elearning.demo import load_demo_media
from app.reports.demo import load_demo_compliance
from app.reports.half_year_demo import load_demo_half_year_report
from app.scheduling.demo import load_demo_sessions


def load_demo() -> list[DemoLogin]:
    """The fictional prefecture, its catalog from courses/ (quizzes included), the demo's
    assignment rules, sessions and cohort (idempotent). Returns one login per role."""
    logins = load_demo_organisation()
    load_demo_catalog()
    load_demo_media()
    load_demo_sessions()
    load_demo_web_meeting()
    load_demo_cohort()
    load_demo_fieldwork()
    load_demo_compliance()
    load_demo_recurrence()
    load_demo_transfer()
    load_demo_half_year_report()
    return logins


@click.group("demo", help="Demo data for trying Manabi out.")
def demo_group() -> None:
    pass


@demo_group.command("load")
@with_appcontext
def demo_load_cmd() -> None:
    """Load the fictional prefecture (idempotent) and print one login per role."""
    logins = load_demo()
    db_session.commit()
    click.echo("")
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD})")
    for login in logins:
        click.echo(f"  {login.role:<26} {login.login:<10} {login.name}  {login.note}")
