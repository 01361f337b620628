"""Staff accounts: usernames, roles, passwords (argon2id) and the changes an admin makes.

The admin API (``routes/accounts.py``) and the ``xiaoshen accounts`` command
both go through these functions, so both check the same rules and write the
same audit records (``account.create``, ``account.role_change``,
``account.disable``, ``account.enable``, ``account.password_reset``).

- A username is NFKC-normalised and case-folded, 1-64 letters, digits, ``.``,
  ``_`` or ``-`` (Chinese names allowed: 王芳), and must not be personal data
  (a phone or ID number is not a username).
- A password has at least ``auth.password_min_chars`` characters and no other
  composition rule (ASVS 5.0, V6.2), and is not the username.  It is stored
  only as an argon2id hash (argon2-cffi's RFC 9106 defaults); a hash made with
  weaker parameters is upgraded at the next successful sign-in.
- No change may leave the service without an enabled admin.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from assistant.api.auth import ROLES, write_audit
from assistant.core import pii
from assistant.core.errors import Conflict, InvalidInput, NotFound
from assistant.core.settings import AuthSettings
from assistant.core.types import Account, Storage

#: longest password accepted (argon2 takes any length; this only bounds the work of one request).
MAX_PASSWORD_CHARS = 1024
_USERNAME = re.compile(r"[\w.\-]{1,64}")


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (encoded: algorithm, parameters, salt and hash)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash, never an error)."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _decoy_hash() -> str:
    # Checked against when the username is unknown, so that an unknown name costs
    # the same time as a wrong password and the timing tells nothing.
    hasher = _hasher()
    return _decoy_for(hasher.time_cost, hasher.memory_cost, hasher.parallelism)


@cache
def _decoy_for(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return PasswordHasher(time_cost, memory_cost, parallelism).hash("decoy password for unknown usernames")


def normalise_username(raw: str) -> str:
    """The stored form of a username, or InvalidInput naming the rule."""
    name = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not _USERNAME.fullmatch(name):
        raise InvalidInput(
            f"username {raw!r} is not valid: use 1-64 letters, digits, '.', '_' or '-' (e.g. wang.fang or 王芳)"
        )
    if pii.contains_pii(name):
        raise InvalidInput(
            f"username {pii.mask(raw)!r} looks like personal data (a phone, ID or card number); choose a work name"
        )
    return name


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The roles, sorted and unique; InvalidInput for none or an unknown one."""
    given = list(roles)
    chosen = tuple(sorted(set(given)))
    if not chosen or any(r not in ROLES for r in chosen):
        raise InvalidInput(f"roles {given!r} are not valid: give one or more of {', '.join(ROLES)}")
    return chosen


def check_password(password: str, username: str, settings: AuthSettings) -> None:
    """InvalidInput unless ``password`` is acceptable for ``username``."""
    if len(password) < settings.password_min_chars:
        raise InvalidInput(
            f"the password has {len(password)} characters; use at least {settings.password_min_chars} "
            "(a passphrase of several words is easiest to remember)"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"the password has {len(password)} characters; use at most {MAX_PASSWORD_CHARS}")
    if not password.strip() or password.strip().casefold() == username.casefold():
        raise InvalidInput("the password must not be blank or the username; choose another")


def _existing(storage: Storage, username: str) -> Account:
    account = storage.accounts.find(normalise_username(username))
    if account is None:
        raise NotFound(f"account {username!r} does not exist; `xiaoshen accounts list` shows the accounts")
    return account


def _enabled_admins(storage: Storage) -> set[str]:
    return {a.username for a in storage.accounts.list() if "admin" in a.roles and not a.disabled}


def _keep_an_admin(storage: Storage, username: str, what: str) -> None:
    if _enabled_admins(storage) <= {username}:
        raise Conflict(f"{what} would leave no enabled admin to manage accounts; make another account admin first")


def create_account(
    storage: Storage,
    settings: AuthSettings,
    username: str,
    roles: Iterable[str],
    password: str,
    *,
    actor: str,
    client: str = "",
) -> Account:
    """Create an account (Conflict when the name is taken); audited as ``account.create``."""
    name = normalise_username(username)
    chosen = check_roles(roles)
    check_password(password, name, settings)
    account = storage.accounts.create(name, password_hash=hash_password(password), roles=chosen)
    write_audit(
        storage, actor=actor, action="account.create", target=name, after={"roles": list(chosen)}, client=client
    )
    return account


def set_roles(storage: Storage, username: str, roles: Iterable[str], *, actor: str, client: str = "") -> Account:
    """Replace an account's roles; audited as ``account.role_change`` with before and after."""
    account = _existing(storage, username)
    chosen = check_roles(roles)
    if "admin" in account.roles and "admin" not in chosen and not account.disabled:
        _keep_an_admin(storage, account.username, f"taking admin from {account.username}")
    changed = storage.accounts.set_roles(account.username, chosen)
    write_audit(
        storage,
        actor=actor,
        action="account.role_change",
        target=account.username,
        before={"roles": list(account.roles)},
        after={"roles": list(changed.roles)},
        client=client,
    )
    return changed


def set_disabled(storage: Storage, username: str, disabled: bool, *, actor: str, client: str = "") -> Account:
    """Disable (ending every session) or enable an account; audited as ``account.disable`` / ``account.enable``."""
    account = _existing(storage, username)
    if disabled and "admin" in account.roles and not account.disabled:
        _keep_an_admin(storage, account.username, f"disabling {account.username}")
    changed = storage.accounts.set_disabled(account.username, disabled)
    if disabled:
        storage.sessions.delete_for(account.username)
    write_audit(
        storage,
        actor=actor,
        action="account.disable" if disabled else "account.enable",
        target=account.username,
        before={"disabled": account.disabled},
        after={"disabled": changed.disabled},
        client=client,
    )
    return changed


def set_password(
    storage: Storage, settings: AuthSettings, username: str, password: str, *, actor: str, client: str = ""
) -> Account:
    """Give an account a new password (ending every session); audited as ``account.password_reset``."""
    account = _existing(storage, username)
    check_password(password, account.username, settings)
    changed = storage.accounts.set_password(account.username, hash_password(password))
    storage.sessions.delete_for(account.username)
    write_audit(storage, actor=actor, action="account.password_reset", target=account.username, client=client)
    return changed


def verify_login(storage: Storage, username: str, password: str) -> Account | None:
    """The account when ``username`` and ``password`` match an enabled account, else None.

    Unknown names, wrong passwords and disabled accounts are alike to the
    caller (and take the same time), so a sign-in error names none of them.
    """
    try:
        name = normalise_username(username)
    except InvalidInput:
        name = ""
    account = storage.accounts.find(name) if name else None
    if account is None:
        verify_password(_decoy_hash(), password)
        return None
    if not verify_password(account.password_hash, password) or account.disabled:
        return None
    if _hasher().check_needs_rehash(account.password_hash):
        account = storage.accounts.set_password(account.username, hash_password(password))
    return account
