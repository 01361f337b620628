"""The audit log, for supervisors and admins: who did what, when, from where, before and after.

Newest first, filtered by actor, action (``ticket.*`` for a family) and time;
a page ends with ``next_before``, the ``before`` of the next page.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, BeforeValidator

from assistant.api.auth import request_storage
from assistant.api.routes.service_levels import iso_time
from assistant.core.errors import InvalidInput
from assistant.core.types import AuditRecord

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditRecordOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any = None
    after: Any = None
    client: str

    @classmethod
    def of(cls, r: AuditRecord) -> AuditRecordOut:
        return cls(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            before=r.before,
            after=r.after,
            client=r.client,
        )


class AuditPageOut(BaseModel):
    records: list[AuditRecordOut]
    #: pass as ``before`` for the next (older) page; null on the last page.
    next_before: int | None


@router.get("", response_model=AuditPageOut)
def read_audit(
    request: Request,
    actor: Annotated[str | None, Query(max_length=128, description="exactly this username")] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)*(\.\*)?$", description="e.g. auth.login or ticket.*"),
    ] = None,
    since: Annotated[
        datetime | None,
        Query(description="ISO time with a zone, e.g. 2026-12-01T00:00:00+08:00"),
        BeforeValidator(iso_time),
    ] = None,
    before: Annotated[int | None, Query(ge=1, description="records with an id below this (the next page)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPageOut:
    """Audit records, newest first."""
    if since is not None and since.tzinfo is None:
        raise InvalidInput(f"since={since.isoformat()} has no time zone; add one, e.g. {since.isoformat()}+08:00")
    records = request_storage(request).audit.query(
        actor=actor,
        action=action,
        since=since.astimezone(timezone.utc) if since else None,
        before_id=before,
        limit=limit,
    )
    next_before = records[-1].id if len(records) == limit else None
    return AuditPageOut(records=[AuditRecordOut.of(r) for r in records], next_before=next_before)
