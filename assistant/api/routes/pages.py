"""The web pages: citizen chat at ``/``, staff console, dashboard (plain HTML and JS in ``ui/``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ui import UI_DIR

router = APIRouter(include_in_schema=False)


@router.get("/")
def citizen_chat() -> FileResponse:
    return FileResponse(UI_DIR / "chat.html", media_type="text/html")


@router.get("/console")
def staff_console() -> FileResponse:
    return FileResponse(UI_DIR / "console.html", media_type="text/html")


@router.get("/dashboard")
def dashboard() -> FileResponse:
    return FileResponse(UI_DIR / "dashboard.html", media_type="text/html")
