"""Rows of the audit trail: who did what to which object, from where, when."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class AuditEntry:
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
    def from_row(cls, row: Any) -> AuditEntry:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["details"] = dict(values["details"] or {})
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of one page of the trail; `org_id` None reads every organization."""

    org_id: UUID | None
    action: str | None = None
    actor_id: UUID | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 50
