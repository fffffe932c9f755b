"""`flask api ...`: the API's system accounts (OAuth 2 clients), for the operator who connects the
personnel system. The secret is printed once; revoking stops the client's tokens at once.

    flask api create-client "人事給与システム" --role personnel_system --scopes read,staff
    flask api clients
    flask api revoke-client mnbc_0123456789abcdef
"""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.api.clients import CLIENT_SCOPES, ClientError, all_clients, create_client, revoke_client
from app.core.db import db_session
from app.permissions import SYSTEM_ROLE_PERMISSIONS


@click.group("api", help="The JSON API: system accounts (OAuth 2 client credentials).")
def api_group() -> None:
    pass


@api_group.command("create-client")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(sorted(SYSTEM_ROLE_PERMISSIONS)),
              help="What the account may do (app/permissions.py SYSTEM_ROLE_PERMISSIONS).")
@click.option("--scopes", default="read", show_default=True,
              help=f"Comma-separated, among: {', '.join(CLIENT_SCOPES)}.")
@with_appcontext
def create_client_cmd(name: str, role: str, scopes: str) -> None:
    """Register a system account NAME and print its client id and secret (the secret once)."""
    try:
        made = create_client(None, name, role, [s.strip() for s in scopes.split(",") if s.strip()])
    except ClientError as error:
        db_session.rollback()
        raise click.ClickException(str(error)) from None
    db_session.commit()
    click.echo(f"client_id:     {made.client.client_id}")
    click.echo(f"client_secret: {made.secret}  (shown once)")
    click.echo(f"role: {made.client.role}; scopes: {made.client.scopes}")
    click.echo("Token: POST /api/v1/oauth/token with grant_type=client_credentials (HTTP Basic: id and secret).")


@api_group.command("clients")
@with_appcontext
def clients_cmd() -> None:
    """List the system accounts (live and revoked)."""
    for client in all_clients():
        state = f"revoked {client.revoked_at:%Y-%m-%d}" if client.revoked_at else "live"
        used = f"{client.last_used_at:%Y-%m-%d %H:%M}" if client.last_used_at else "never"
        click.echo(f"{client.client_id}  {client.name}  role={client.role}  scopes={client.scopes}  "
                   f"last token {used}  {state}")


@api_group.command("revoke-client")
@click.argument("client_id")
@with_appcontext
def revoke_client_cmd(client_id: str) -> None:
    """Revoke CLIENT_ID: its tokens stop working at once."""
    if not revoke_client(None, client_id.strip()):
        raise click.ClickException(f"no live client {client_id!r}")
    db_session.commit()
    click.echo(f"{client_id} is revoked.")
