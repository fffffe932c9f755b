"""`flask auth make-admin EMPLOYEE_NUMBER`: the first administrator of a new installation.

On a blank server nobody can sign in: roles are granted on the web only by an administrator. The
operator imports the staff list (`flask org import`), then names one person here; that person gets
the administrator role and a temporary password, printed once, to be changed at the first sign-in.
Run again later, it is the break-glass way back in (an administrator who forgot their password).
"""
from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.auth.services import issue_system_temporary_password
from app.core.db import db_session
from app.org.models import Employee, RoleName
from app.org.services import grant_role


@click.group("auth", help="Accounts: the first administrator.")
def auth_group() -> None:
    pass


@auth_group.command("make-admin")
@click.argument("employee_number")
@with_appcontext
def make_admin_cmd(employee_number: str) -> None:
    """Grant EMPLOYEE_NUMBER the administrator role and print a temporary password (shown once)."""
    person = db_session.scalar(select(Employee).where(Employee.employee_number == employee_number.strip()))
    if person is None:
        raise click.ClickException(f"no employee numbered {employee_number!r}: import the staff list first "
                                   "(flask org import FILE)")
    if not person.is_active:
        raise click.ClickException(f"employee {person.employee_number} is deactivated in the staff list")
    grant_role(None, person, RoleName.ADMIN)  # audited as the system: no one is signed in here
    password = issue_system_temporary_password(person)
    db_session.commit()
    click.echo(f"{person.employee_number} is an administrator.")
    click.echo(f"Temporary password (shown once; to be changed at the first sign-in): {password}")
