"""The Prometheus ``/metrics`` endpoint: the server's own observability (not service levels)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def prometheus(request: Request) -> Response:
    """Prometheus text exposition (helpdesk gauges read from the storage at scrape time)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
