"""The audit trail: org admins read their organization's, the system admin everyone's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from engine.models.audit import AuditQuery
from engine.routes.deps import MAX_PAGE_SIZE, CurrentUser, Engine
from engine.schemas.audit import AuditPageOut

router = APIRouter(prefix="/audit", tags=["audit"])

# action names (`user.created`) and target ids (uuids, message numbers)
_TOKEN = r"^[A-Za-z0-9_.:-]+$"


@router.get("", response_model=AuditPageOut)
async def read_audit_log(
    user: CurrentUser,
    engine: Engine,
    action: Annotated[str | None, Query(max_length=100, pattern=_TOKEN)] = None,
    actor_id: UUID | None = None,
    target_id: Annotated[str | None, Query(max_length=100, pattern=_TOKEN)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    org_id: UUID | None = None,
) -> AuditPageOut:
    """Newest first; pass `next_before_id` as `before_id` for the next page. `org_id` is for
    the system administrator (others read only their own organization)."""
    query = AuditQuery(
        org_id=org_id,
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    entries = await engine.audit.page(user, query)
    next_before = entries[-1].id if len(entries) == limit else None
    return AuditPageOut(items=entries, next_before_id=next_before)
