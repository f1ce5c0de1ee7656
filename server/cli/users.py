"""``wangge user``: users, passwords, API tokens and sessions (registered on :data:`server.cli.main`).

Add, list, disable and enable users, set passwords, issue, list and revoke API tokens, list or end
sessions. Every change is audited as ``cli:<you>``.
"""

from __future__ import annotations

import click

from server.cli.common import fail, migrated_engine


def _role(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Check the role when the command runs, so ``wangge --help`` need not import the models (SQLAlchemy)."""
    from server.store.models import ROLES

    if value not in (*ROLES, "reviewer"):
        raise click.BadParameter(f"{value!r} is not one of {', '.join((*ROLES, 'reviewer'))}")
    return value


@click.group()
def user() -> None:
    """Users who sign in: add, list, and API tokens for scripts."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, callback=_role,
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
    from server.services.permissions import validate_scope
    from server.services.users import create_user

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
@click.option("--label", help="What the token is for (its name, shown on /admin/users and in the audit log), "
                              "e.g. 'nightly import'.")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True,
              help="Days until the token expires.")
def user_token(username: str, label: str | None, days: int) -> None:
    """Issue an API token for USERNAME and print it once (only its hash is kept)."""
    from server.services.users import create_token

    with migrated_engine() as (engine, _):
        try:
            with engine.begin() as conn:
                token = create_token(conn, username, label, days=days)
        except ValueError as exc:
            fail(f"{exc}; no token was issued")
    click.echo(token)
    click.echo(f"Store it now: it cannot be shown again. It expires in {days} days. "
               "Send it as 'Authorization: Bearer <token>'.", err=True)


def _change(action, username: str, done: str) -> None:
    # Run one audited change of a user in its own transaction; a missing user is a usage error (2).
    from server.errors import Conflict, NotFound

    with migrated_engine() as (engine, _):
        try:
            with engine.begin() as conn:
                result = action(conn)
        except (NotFound, Conflict, ValueError) as exc:
            fail(f"{getattr(exc, 'message', exc)}; nothing was changed for {username}")
    click.echo(done.format(result=result))


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Disable USERNAME: sign-in refused, sessions ended, API tokens refused until enabled again."""
    from server.services.users import set_active

    _change(lambda conn: set_active(conn, username, False), username,
            f"disabled {username}; {{result}} session(s) ended")


@user.command("enable")
@click.argument("username")
def user_enable(username: str) -> None:
    """Enable USERNAME again."""
    from server.services.users import set_active

    _change(lambda conn: set_active(conn, username, True), username, f"enabled {username}")


@user.command("password")
@click.argument("username")
@click.option("--password", help="At least 8 characters; asked for (not echoed) when omitted.")
def user_password(username: str, password: str | None) -> None:
    """Set a new password for USERNAME and end their sessions."""
    from server.services.users import set_password

    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _change(lambda conn: set_password(conn, username, password), username,
            f"password of {username} set; {{result}} session(s) ended")


@user.command("revoke-token")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
def user_revoke_token(token_id: int) -> None:
    """Revoke the API token TOKEN_ID (the number shown by ``wangge user tokens``)."""
    from server.services.users import revoke_token

    _change(lambda conn: revoke_token(conn, token_id), str(token_id), f"revoked token {token_id}")


@user.command("tokens")
@click.argument("username", required=False)
def user_tokens(username: str | None) -> None:
    """List API tokens (of USERNAME, or of everyone): id, user, name, last used, expiry, state."""
    from server.errors import NotFound
    from server.services.users import list_tokens

    with migrated_engine() as (engine, _), engine.connect() as conn:
        try:
            tokens = list_tokens(conn, username)
        except NotFound as exc:
            fail(exc.message)
    click.echo(f"{'id':>5} {'user':<16} {'name':<20} {'last used':<16} {'expires':<10} state")
    for k in tokens:
        used = k["last_used_at"].strftime("%Y-%m-%d %H:%M") if k["last_used_at"] else "never"
        expires = k["expires_at"].strftime("%Y-%m-%d") if k["expires_at"] else "never"
        click.echo(f"{k['id']:>5} {k['username']:<16} {(k['label'] or '-'):<20} {used:<16} {expires:<10} "
                   f"{'revoked' if k['revoked_at'] else 'live'}")


@user.command("sessions")
@click.argument("username")
@click.option("--end", is_flag=True, help="End every session of USERNAME (they must sign in again).")
def user_sessions(username: str, end: bool) -> None:
    """List the open sessions of USERNAME (started, last seen, address, browser), or end them with --end."""
    from server.errors import NotFound
    from server.services.users import end_sessions, list_sessions

    if end:
        _change(lambda conn: end_sessions(conn, username), username, f"ended {{result}} session(s) of {username}")
        return
    with migrated_engine() as (engine, _), engine.connect() as conn:
        try:
            sessions = list_sessions(conn, username)
        except NotFound as exc:
            fail(exc.message)
    if not sessions:
        click.echo(f"{username} has no open session")
    for s in sessions:
        click.echo(f"{s['id']:>5} started {s['created_at']:%Y-%m-%d %H:%M} "
                   f"last seen {s['last_seen_at']:%Y-%m-%d %H:%M} {s['ip'] or '-'} {s['user_agent'] or ''}")
