"""Proposals: a write an AI tool wanted to make, applied only when a person approves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"
    FAILED = "failed"  # the write itself was refused when applied (validation)
    CONFLICT = "conflict"  # the target changed or vanished since it was proposed


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """What a tool would change, as structured data (shown to the approver as is)."""

    tool: str
    action: str
    target_type: str
    target_id: str | None
    target_version: str | None
    payload: dict[str, Any]
    summary: str


@dataclass(frozen=True, slots=True)
class Proposal:
    id: UUID
    org_id: UUID
    chat_id: UUID | None
    message_id: int | None
    calendar_run_id: UUID | None
    requested_by: UUID | None
    role_code: str
    tool: str
    action: str
    target_type: str
    target_id: str | None
    target_version: str | None
    payload: dict[str, Any]
    summary: str
    status: ProposalStatus
    status_reason: str | None
    result: dict[str, Any] | None
    decided_by: UUID | None
    decided_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Proposal:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            chat_id=row["chat_id"],
            message_id=row["message_id"],
            calendar_run_id=row["calendar_run_id"],
            requested_by=row["requested_by"],
            role_code=row["role_code"],
            tool=row["tool"],
            action=row["action"],
            target_type=row["target_type"],
            target_id=row["target_id"],
            target_version=row["target_version"],
            payload=dict(row["payload"]),
            summary=row["summary"],
            status=ProposalStatus(row["status"]),
            status_reason=row["status_reason"],
            result=dict(row["result"]) if row["result"] is not None else None,
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            created_at=row["created_at"],
        )
