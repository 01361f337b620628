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


#: scope key of the services a request was given (one artefact version for the whole request).
SERVICES_KEY = "xs.services"


def request_services(request: Request) -> object | None:
    """The ``Services`` this request is served by, taken once at its first use.

    ``app.state.services`` changes when a new artefact version is installed
    (``assistant.api.artefact_watch``); a request keeps the one it started with, so
    its assistant and helpdesk come from the same version.
    """
    services = request.scope.get(SERVICES_KEY)
    if services is None:
        services = getattr(request.app.state, "services", None)
        if services is not None:
            request.scope[SERVICES_KEY] = services
    return services


def get_assistant(request: Request) -> Assistant:
    services = request_services(request)
    assistant = services.assistant if services is not None else getattr(request.app.state, "assistant", None)  # type: ignore[attr-defined]
    if assistant is None:
        raise NotReady("the assistant is not built yet; retry when GET /readyz answers 200")
    return assistant


def get_helpdesk(request: Request) -> Helpdesk:
    services = request_services(request)
    helpdesk = services.helpdesk if services is not None else getattr(request.app.state, "helpdesk", None)  # type: ignore[attr-defined]
    if helpdesk is None:
        raise NotReady("the helpdesk is not ready yet; retry when GET /readyz answers 200")
    return helpdesk


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
HelpdeskDep = Annotated[Helpdesk, Depends(get_helpdesk)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
