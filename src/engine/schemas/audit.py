"""The audit trail as the API returns it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from engine.models.audit import AuditEntry


class AuditEntryOut(BaseModel):
    id: int
    org_id: UUID
    at: datetime
    actor_id: UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    request_id: str | None
    client_ip: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            org_id=entry.org_id,
            at=entry.at,
            actor_id=entry.actor_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
            request_id=entry.request_id,
            client_ip=entry.client_ip,
        )


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_before_id: int | None
