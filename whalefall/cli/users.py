"""``whalefall user …`` and ``whalefall token …``: accounts and API tokens from the shell.

Each command builds its own Runtime from the environment and assumes the
schema exists (``whalefall db upgrade``). Errors of the product print
``error: <message>`` on stderr and exit with status 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from whalefall import clock
from whalefall.errors import InvalidInput, WhalefallError
from whalefall.models import Role
from whalefall.runtime import Runtime
from whalefall.services import tokens
from whalefall.services import users as user_service
from whalefall.services.audit import Actor

ROLE_CHOICE = click.Choice([r.value for r in Role])
PASSWORD_STDIN_HELP = "Read the password from one line of standard input instead of prompting."


def _fail_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except WhalefallError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(2)

    return wrapped


def _with_runtime(fn: Callable[[Runtime], Any]) -> Any:
    from whalefall.cli import load_runtime

    runtime = load_runtime()
    try:
        return fn(runtime)
    finally:
        runtime.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise InvalidInput("no password on standard input", field="password")
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")


def _when(value) -> str:
    return clock.iso(value) or "-"


def register(cli: click.Group) -> None:
    """Add the ``user`` and ``token`` command groups to ``cli``."""
    cli.add_command(user)
    cli.add_command(token)


@click.group(help="Manage the people who sign in.")
def user() -> None:
    pass


@user.command("create")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True, help="viewer, operator or admin.")
@click.option("--password-stdin", is_flag=True, help=PASSWORD_STDIN_HELP)
@_fail_cleanly
def user_create(name: str, role: str, password_stdin: bool) -> None:
    """Create the user NAME."""
    user_service.validate_username(name)
    password = _read_password(password_stdin)
    created = _with_runtime(lambda rt: user_service.create(rt.db, name, password, role, Actor.cli()))
    click.echo(f"created user {created.username} ({created.role})")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help=PASSWORD_STDIN_HELP)
@click.option("--revoke-tokens", is_flag=True, help="Also revoke every API token of NAME.")
@_fail_cleanly
def user_passwd(name: str, password_stdin: bool, revoke_tokens: bool) -> None:
    """Set a new password for NAME; their open sessions end, in every browser."""

    def change(rt: Runtime):
        user_service.get_by_name(rt.db, name)  # say "no such user" before asking for a password
        password = _read_password(password_stdin)
        return user_service.set_password(
            rt.db, name, password, Actor.cli(), revoke_tokens=revoke_tokens, data_dir=rt.settings.data_dir
        )

    _with_runtime(change)
    click.echo(
        f"password changed for {name}" + ("; every API token of theirs is revoked" if revoke_tokens else "")
    )


@user.command("role")
@click.argument("name")
@click.argument("role", type=ROLE_CHOICE)
@_fail_cleanly
def user_role(name: str, role: str) -> None:
    """Give NAME the role ROLE."""
    changed = _with_runtime(lambda rt: user_service.set_role(rt.db, name, role, Actor.cli()))
    click.echo(f"{changed.username} is now {changed.role}")


@user.command("disable")
@click.argument("name")
@_fail_cleanly
def user_disable(name: str) -> None:
    """Stop NAME from signing in; their sessions and tokens stop working."""
    _with_runtime(lambda rt: user_service.set_active(rt.db, name, False, Actor.cli()))
    click.echo(f"disabled {name}")


@user.command("enable")
@click.argument("name")
@_fail_cleanly
def user_enable(name: str) -> None:
    """Let NAME sign in again."""
    _with_runtime(lambda rt: user_service.set_active(rt.db, name, True, Actor.cli()))
    click.echo(f"enabled {name}")


@user.command("list")
@_fail_cleanly
def user_list() -> None:
    """List every user."""
    for u in _with_runtime(lambda rt: user_service.list_users(rt.db)):
        state = "active" if u.is_active else "disabled"
        click.echo(f"{u.username}\t{u.role}\t{state}\tlast login {_when(u.last_login_at)}")


@click.group(help="Manage API tokens (Authorization: Bearer <token>).")
def token() -> None:
    pass


@token.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
@_fail_cleanly
def token_create(name: str, label: str) -> None:
    """Create an API token for the user NAME and print it (shown once, on the last line)."""
    created, plaintext = _with_runtime(lambda rt: tokens.create(rt.db, name, label, Actor.cli()))
    click.echo(f"created token {created.id} for {name}; it is shown only now:")
    click.echo(plaintext)


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@_fail_cleanly
def token_revoke(token_id: int) -> None:
    """Revoke the token ID."""
    _with_runtime(lambda rt: tokens.revoke(rt.db, token_id, Actor.cli()))
    click.echo(f"revoked token {token_id}")


@token.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@_fail_cleanly
def token_list(username: str | None) -> None:
    """List tokens: id, user, prefix, label, state, last use."""
    for t in _with_runtime(lambda rt: tokens.list_tokens(rt.db, username)):
        state = "active" if t.active else f"revoked {_when(t.revoked_at)}"
        click.echo(
            f"{t.id}\t{t.username}\t{t.prefix}…\t{t.label or '-'}\t{state}\tlast used {_when(t.last_used_at)}"
        )
