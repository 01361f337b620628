"""Staff accounts, for admins (the route table gives ``/api/v1/accounts*`` to ``admin``).

Creating an account, changing its roles, disabling or enabling it and
resetting its password go through ``assistant.api.accounts`` (the same rules
and audit records as ``xiaoshen accounts``).  Password hashes never leave the
server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from assistant.api import accounts
from assistant.api.auth import ROLES, StaffDep, request_storage
from assistant.core.errors import NotFound
from assistant.core.settings import AuthSettings
from assistant.core.types import Account

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: what the schema says of a username (assistant.api.accounts.normalise_username checks it).
USERNAME_PATTERN = r"^[\w.\-]{1,64}$"
#: the schema's roles: one or more of ROLES.
_ROLES = {"items": {"type": "string", "enum": list(ROLES)}}
#: the schema's shortest password: the least auth.password_min_chars allows (the setting may ask more).
_PASSWORD_MIN = AuthSettings.model_fields["password_min_chars"].default

Username = Annotated[str, Path(pattern=USERNAME_PATTERN, max_length=64, description="e.g. wang.fang or 王芳")]


class AccountIn(_In):
    username: str = Field(..., min_length=1, max_length=64, pattern=USERNAME_PATTERN)
    roles: list[str] = Field(..., min_length=1, json_schema_extra=_ROLES)
    password: str = Field(..., min_length=_PASSWORD_MIN, max_length=accounts.MAX_PASSWORD_CHARS)


class RolesIn(_In):
    roles: list[str] = Field(..., min_length=1, json_schema_extra=_ROLES)


class PasswordIn(_In):
    password: str = Field(..., min_length=_PASSWORD_MIN, max_length=accounts.MAX_PASSWORD_CHARS)


class AccountOut(BaseModel):
    """An account without its password hash."""

    username: str
    roles: list[str]
    disabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(
            username=a.username,
            roles=list(a.roles),
            disabled=a.disabled,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )


def _client(request: Request) -> str:
    return request.app.state.limits.client(request)


@router.get("", response_model=list[AccountOut])
def list_accounts(request: Request) -> list[AccountOut]:
    """Every account, by username."""
    return [AccountOut.of(a) for a in request_storage(request).accounts.list()]


@router.post("", response_model=AccountOut, status_code=201)
def create_account(body: AccountIn, request: Request, principal: StaffDep) -> AccountOut:
    """Create an account (409 when the username is taken); audited as ``account.create``."""
    account = accounts.create_account(
        request_storage(request),
        request.app.state.settings.auth,
        body.username,
        body.roles,
        body.password,
        actor=principal.username,
        client=_client(request),
    )
    return AccountOut.of(account)


@router.get("/{username}", response_model=AccountOut)
def read_account(username: Username, request: Request) -> AccountOut:
    """One account."""
    account = request_storage(request).accounts.find(accounts.normalise_username(username))
    if account is None:
        raise NotFound(f"account {username!r} does not exist")
    return AccountOut.of(account)


@router.put("/{username}/roles", response_model=AccountOut)
def set_roles(username: Username, body: RolesIn, request: Request, principal: StaffDep) -> AccountOut:
    """Replace the roles (409 if that would leave no enabled admin); audited as ``account.role_change``."""
    storage, actor, client = request_storage(request), principal.username, _client(request)
    return AccountOut.of(accounts.set_roles(storage, username, body.roles, actor=actor, client=client))


@router.post("/{username}/disable", response_model=AccountOut)
def disable(username: Username, request: Request, principal: StaffDep) -> AccountOut:
    """Disable the account and end its sessions; audited as ``account.disable``."""
    storage, actor, client = request_storage(request), principal.username, _client(request)
    return AccountOut.of(accounts.set_disabled(storage, username, True, actor=actor, client=client))


@router.post("/{username}/enable", response_model=AccountOut)
def enable(username: Username, request: Request, principal: StaffDep) -> AccountOut:
    """Enable a disabled account again; audited as ``account.enable``."""
    storage, actor, client = request_storage(request), principal.username, _client(request)
    return AccountOut.of(accounts.set_disabled(storage, username, False, actor=actor, client=client))


@router.put("/{username}/password", response_model=AccountOut)
def set_password(username: Username, body: PasswordIn, request: Request, principal: StaffDep) -> AccountOut:
    """Set a new password and end the account's sessions; audited as ``account.password_reset``."""
    return AccountOut.of(
        accounts.set_password(
            request_storage(request),
            request.app.state.settings.auth,
            username,
            body.password,
            actor=principal.username,
            client=_client(request),
        )
    )
