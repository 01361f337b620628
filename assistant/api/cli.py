"""``xiaoshen accounts``: staff accounts from the server's own shell (the first admin, recovery).

Works on the configured database (``XS_DATABASE__URL``; SQLite in the data
directory by default) with the same rules and audit records as the admin API
(``assistant.api.accounts``); the audit log names the actor ``cli:<os user>``.
Passwords are read from a prompt, or one line of standard input with
``--password-stdin``; never from the command line, where ``ps`` and the shell
history would show them.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from assistant.cli_options import ConfigOption, settings_from
from assistant.core.errors import InvalidInput
from assistant.core.settings import Settings
from assistant.core.types import Account, Storage

app = typer.Typer(help="Staff accounts: create, list, set roles, disable, reset passwords.", no_args_is_help=True)

RolesOption = Annotated[
    list[str], typer.Option("--role", "-r", help="agent, kb_operator, supervisor or admin (repeat for several)")
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from one line of standard input")
]
UsernameArg = Annotated[str, typer.Argument(help="the account's username, e.g. wang.fang")]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a bare container): still say it was the CLI
        return "cli"


@contextmanager
def _storage(settings: Settings) -> Iterator[Storage]:
    from assistant.wiring import open_configured_storage

    storage = open_configured_storage(settings)
    try:
        yield storage
    finally:
        storage.dispose()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise InvalidInput(
                "--password-stdin read nothing; pipe the password in: printf '%s\\n' \"$PW\" | xiaoshen accounts …"
            )
        return password
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for the password; pass --password-stdin and pipe it in")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _show(account: Account) -> str:
    state = "disabled" if account.disabled else "enabled"
    return f"{account.username}\t{','.join(account.roles)}\t{state}\tcreated {account.created_at.isoformat()}"


@app.command("create")
def create(
    username: UsernameArg,
    role: RolesOption,
    password_stdin: PasswordStdin = False,
    config: ConfigOption = None,
) -> None:
    """Create an account (the first admin: --role admin)."""
    from assistant.api.accounts import create_account

    settings = settings_from(config)
    password = _password(password_stdin)
    with _storage(settings) as storage:
        account = create_account(storage, settings.auth, username, role, password, actor=_actor(), client="local")
    typer.echo(f"created {_show(account)}")


@app.command("list")
def list_accounts(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
) -> None:
    """Every account with its roles and whether it is enabled."""
    with _storage(settings_from(config)) as storage:
        found = storage.accounts.list()
    if as_json:
        rows = [
            {
                "username": a.username,
                "roles": list(a.roles),
                "disabled": a.disabled,
                "created_at": a.created_at.isoformat(),
            }
            for a in found
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo("no accounts yet; create the first admin: xiaoshen accounts create NAME --role admin")
    for account in found:
        typer.echo(_show(account))


@app.command("set-roles")
def set_roles(username: UsernameArg, role: RolesOption, config: ConfigOption = None) -> None:
    """Replace an account's roles (audited with before and after)."""
    from assistant.api.accounts import set_roles as change

    with _storage(settings_from(config)) as storage:
        account = change(storage, username, role, actor=_actor(), client="local")
    typer.echo(f"roles set: {_show(account)}")


@app.command("disable")
def disable(username: UsernameArg, config: ConfigOption = None) -> None:
    """Disable an account and end its sessions."""
    from assistant.api.accounts import set_disabled

    with _storage(settings_from(config)) as storage:
        account = set_disabled(storage, username, True, actor=_actor(), client="local")
    typer.echo(f"disabled: {_show(account)}")


@app.command("enable")
def enable(username: UsernameArg, config: ConfigOption = None) -> None:
    """Enable a disabled account again."""
    from assistant.api.accounts import set_disabled

    with _storage(settings_from(config)) as storage:
        account = set_disabled(storage, username, False, actor=_actor(), client="local")
    typer.echo(f"enabled: {_show(account)}")


@app.command("set-password")
def set_password(username: UsernameArg, password_stdin: PasswordStdin = False, config: ConfigOption = None) -> None:
    """Give an account a new password (its sessions end)."""
    from assistant.api.accounts import set_password as change

    settings = settings_from(config)
    password = _password(password_stdin)
    with _storage(settings) as storage:
        account = change(storage, settings.auth, username, password, actor=_actor(), client="local")
    typer.echo(f"password set: {_show(account)}")
