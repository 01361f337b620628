"""Who is calling: staff principals, their roles, and the audit trail of what they do.

This module is the one interface every staff route stands on (the helpdesk
console, the service-level reports, the operators' workbench, the audit log):

- ``ROLES`` and ``ROLE_GRANTS``: the four staff roles and what each one may act as.
- ``Principal``: the signed-in member of staff a request acts for.
- ``current_principal`` / ``StaffDep``: the dependency that finds the principal
  (401 when there is none).
- ``require_roles(*roles)``: the dependency a router or route adds to demand one
  of ``roles`` (403 when the principal has none of them).
- ``audit(request, principal, action, target, before=None, after=None)``: append
  one record of a staff action to the audit log.

Citizens are never principals: they hold a conversation token instead.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from assistant.core.errors import XiaoShenError

log = logging.getLogger("assistant.audit")

#: The staff roles, least to most powerful.
ROLES: tuple[str, ...] = ("agent", "kb_operator", "supervisor", "admin")

#: What each role may act as: a supervisor oversees agents and knowledge operators,
#: an admin may do everything (and alone manages accounts and roles).
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "agent": frozenset({"agent"}),
    "kb_operator": frozenset({"kb_operator"}),
    "supervisor": frozenset({"supervisor", "agent", "kb_operator"}),
    "admin": frozenset(ROLES),
}


class Unauthorized(XiaoShenError):
    """A staff endpoint was called by someone who is not signed in."""

    code = "unauthorized"
    http_status = 401


class Forbidden(XiaoShenError):
    """The signed-in member of staff lacks the role this endpoint needs."""

    code = "forbidden"
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """The member of staff a request acts for."""

    username: str
    #: the roles the account holds (a subset of ``ROLES``)
    roles: frozenset[str]

    def acts_as(self, role: str) -> bool:
        """True when one of the account's roles grants ``role``."""
        return any(role in ROLE_GRANTS.get(r, ()) for r in self.roles)


def current_principal(request: Request, x_staff_token: Annotated[str | None, Header()] = None) -> Principal:
    """The signed-in member of staff, or ``Unauthorized``.

    Until per-person accounts exist this accepts the shared ``helpdesk.staff_token``
    (``X-Staff-Token``) and, when none is configured, anyone, as one principal
    holding every role: the behaviour of the first wave, kept behind this interface.
    """
    expected = request.app.state.settings.helpdesk.staff_token.get_secret_value()
    if expected and (not x_staff_token or not secrets.compare_digest(x_staff_token.encode(), expected.encode())):
        raise Unauthorized(
            "this is a staff endpoint: send the staff token in the X-Staff-Token header "
            "(the value of XS_HELPDESK__STAFF_TOKEN); the console asks for it"
        )
    return Principal("staff", frozenset(ROLES))


StaffDep = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[..., Principal]:
    """A dependency demanding that the principal acts as one of ``roles``."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"require_roles({roles!r}): roles must be among {ROLES}")

    def check(principal: StaffDep) -> Principal:
        if not any(principal.acts_as(r) for r in roles):
            raise Forbidden(f"this endpoint needs the role {' or '.join(roles)}; {principal.username} has none of them")
        return principal

    return check


def audit(
    request: Request,
    principal: Principal,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """Append one record of a staff action (who, what, on what, before and after)."""
    log.info("audit %s %s %s", principal.username, action, target)
