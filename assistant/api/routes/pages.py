"""The web pages: citizen chat at ``/``, staff console, dashboard, workbench and evaluation (plain HTML and JS in ``ui/``)."""

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


@router.get("/workbench")
def workbench() -> FileResponse:
    """The knowledge operators' workbench (missed questions, drafts, gate, history, reviews)."""
    return FileResponse(UI_DIR / "workbench.html", media_type="text/html")


@router.get("/evaluation")
def evaluation() -> FileResponse:
    """The evaluators' page (benchmark runs, reports, comparisons)."""
    return FileResponse(UI_DIR / "evaluation.html", media_type="text/html")
