"""``wangge user``: add and list users, issue API tokens (registered on :data:`server.cli.main`)."""

from __future__ import annotations

import click

from server.cli.common import fail, migrated_engine
from server.store.models import ROLES


@click.group()
def user() -> None:
    """Users who sign in: add, list, and API tokens for scripts."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([*ROLES, "reviewer"]),
              help="admin, municipal_reviewer (= reviewer, scope a city), county_editor (a county), "
                   "township_operator (a township), grid_staff (a community or grid).")
@click.option("--scope", "scope_code", help="Code of the area or grid the role applies to; none for admin.")
@click.option("--name", "display_name", help="Name shown in the page header.")
@click.option("--password", help="At least 8 characters; asked for (not echoed) when omitted, which keeps it "
                                 "out of the shell history.")
def user_add(username: str, role: str, scope_code: str | None, display_name: str | None,
             password: str | None) -> None:
    """Add USERNAME with ROLE and scope (recorded in the audit log as cli:<you>)."""
    from server.errors import Conflict
    from server.services.users import create_user, validate_scope

    try:  # before asking for a password, so a typo in the scope costs no typing
        validate_scope(role, scope_code)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from None
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with migrated_engine() as (engine, _):
        try:
            with engine.begin() as conn:
                user_id = create_user(conn, username, role, scope_code, password, display_name=display_name)
        except (ValueError, Conflict) as exc:
            fail(f"{exc}; no user was added")
    click.echo(f"added user {username} (id {user_id})")


@user.command("list")
def user_list() -> None:
    """List users: name, role, scope, active."""
    from server.services.users import list_users

    with migrated_engine() as (engine, _), engine.connect() as conn:
        users = list_users(conn)
    if not users:
        click.echo("no users yet: add one with wangge user add USERNAME --role admin")
        return
    click.echo(f"{'username':<20} {'role':<19} {'scope':<17} {'active':<6} name")
    for u in users:
        click.echo(f"{u['username']:<20} {u['role']:<19} {u['scope_code'] or '-':<17} "
                   f"{'yes' if u['active'] else 'no':<6} {u['display_name'] or ''}")


@user.command("token")
@click.argument("username")
@click.option("--label", help="What the token is for (shown in the audit log), e.g. 'nightly import'.")
def user_token(username: str, label: str | None) -> None:
    """Issue an API token for USERNAME and print it once (only its hash is kept)."""
    from server.services.users import create_token

    with migrated_engine() as (engine, _):
        try:
            with engine.begin() as conn:
                token = create_token(conn, username, label)
        except ValueError as exc:
            fail(f"{exc}; no token was issued")
    click.echo(token)
    click.echo("Store it now: it cannot be shown again. Send it as 'Authorization: Bearer <token>'.", err=True)
