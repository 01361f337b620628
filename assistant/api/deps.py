"""Dependencies: routes take the assistant, the helpdesk and the settings from ``app.state``.

Tests replace them through ``app.dependency_overrides`` or by passing a
ready assistant to ``create_app``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, Request

from assistant.core.errors import XiaoShenError
from assistant.helpdesk import Helpdesk
from assistant.conversations import Assistant
from assistant.core.settings import Settings


class NotReady(XiaoShenError):
    """The assistant is still being built (or failed to build)."""

    code = "not_ready"
    http_status = 503


class Unauthorized(XiaoShenError):
    """A staff endpoint was called without the right staff token."""

    code = "unauthorized"
    http_status = 401


def require_staff(request: Request, x_staff_token: Annotated[str | None, Header()] = None) -> None:
    """Check ``X-Staff-Token`` against ``helpdesk.staff_token`` (no check when none is configured)."""
    expected = request.app.state.settings.helpdesk.staff_token.get_secret_value()
    if not expected:
        return
    if not x_staff_token or not secrets.compare_digest(x_staff_token.encode(), expected.encode()):
        raise Unauthorized(
            "this is a staff endpoint: send the staff token in the X-Staff-Token header "
            "(the value of XS_HELPDESK__STAFF_TOKEN); the console asks for it"
        )


def get_assistant(request: Request) -> Assistant:
    assistant = getattr(request.app.state, "assistant", None)
    if assistant is None:
        raise NotReady("the assistant is not built yet; retry when GET /readyz answers 200")
    return assistant


def get_helpdesk(request: Request) -> Helpdesk:
    helpdesk = getattr(request.app.state, "helpdesk", None)
    if helpdesk is None:
        raise NotReady("the helpdesk is not ready yet; retry when GET /readyz answers 200")
    return helpdesk


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
HelpdeskDep = Annotated[Helpdesk, Depends(get_helpdesk)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
