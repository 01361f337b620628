"""Dependencies: routes take the assistant, the helpdesk and the settings from ``app.state``.

Tests replace them through ``app.dependency_overrides`` or by passing a
ready assistant to ``create_app``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.api.auth import Principal, StaffDep
from assistant.core.errors import XiaoShenError
from assistant.helpdesk import Helpdesk
from assistant.conversations import Assistant
from assistant.core.settings import Settings


class NotReady(XiaoShenError):
    """The assistant is still being built (or failed to build)."""

    code = "not_ready"
    http_status = 503


def require_staff(principal: StaffDep) -> Principal:
    """Any signed-in member of staff (see ``assistant.api.auth`` for roles)."""
    return principal


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
