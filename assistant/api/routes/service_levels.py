"""The helpdesk's service levels as JSON reports (the dashboard), for supervisors
(the route table, ``assistant.api.access``, gives ``/api/v1/metrics*`` to ``supervisor``).

The URLs keep their ``/api/v1/metrics`` names, which the dashboard and
existing clients call; the Prometheus ``/metrics`` endpoint is in
``routes/observability.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BeforeValidator

from assistant.api.deps import HelpdeskDep
from assistant.db.serde import to_json
from assistant.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1/metrics", tags=["service levels"])

#: longest reporting window (the report is computed in memory from the rows of the window).
MAX_WINDOW = timedelta(days=366)

def iso_time(value: object) -> object:
    """Only an ISO 8601 time: pydantic alone would also read ``1557`` as seconds since 1970."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as e:
            raise ValueError(f"{value!r} is not an ISO 8601 time such as 2026-12-01T00:00:00+08:00") from e
    return value


SinceQ = Annotated[datetime | None, Query(description="ISO time; default 30 days before until"), BeforeValidator(iso_time)]
UntilQ = Annotated[datetime | None, Query(description="ISO time; default now"), BeforeValidator(iso_time)]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"{name}={value.isoformat()} has no time zone; add one, e.g. {value.isoformat()}+08:00")
    return value.astimezone(timezone.utc)


def _report(helpdesk: HelpdeskDep, since: datetime | None, until: datetime | None) -> dict[str, Any]:
    since, until = _aware(since, "since"), _aware(until, "until")
    if since and until and since >= until:
        raise InvalidInput(f"since {since.isoformat()} is not before until {until.isoformat()}")
    if since and (until or helpdesk.clock()) - since > MAX_WINDOW:
        raise InvalidInput(f"the window from {since.isoformat()} is longer than {MAX_WINDOW.days} days; narrow it")
    return to_json(helpdesk.service_levels(since=since, until=until))


@router.get("")
def metrics_report(helpdesk: HelpdeskDep, since: SinceQ = None, until: UntilQ = None) -> dict[str, Any]:
    """The whole report: overall, reasons, resolutions, per item, department and day."""
    return _report(helpdesk, since, until)


@router.get("/summary")
def metrics_summary(helpdesk: HelpdeskDep, since: SinceQ = None, until: UntilQ = None) -> dict[str, Any]:
    """Overall figures, handoff reasons and resolution codes."""
    report = _report(helpdesk, since, until)
    return {k: report[k] for k in ("generated_at", "first_response_target_s", "overall", "handoff_reasons", "resolutions")}


#: the slices of the report, by their URL names.
SLICES = {"items": "by_item", "departments": "by_department", "days": "by_day"}


@router.get("/{slice_name}")
def metrics_slice(
    slice_name: Annotated[str, Path(json_schema_extra={"enum": list(SLICES)})],
    helpdesk: HelpdeskDep,
    since: SinceQ = None,
    until: UntilQ = None,
) -> dict[str, Any]:
    """Figures per ``items``, ``departments`` or ``days``."""
    keys = SLICES
    if slice_name not in keys:
        raise InvalidInput(f"metrics slice {slice_name!r} does not exist; use items, departments or days")
    return _report(helpdesk, since, until)[keys[slice_name]]
