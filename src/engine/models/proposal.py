"""Proposals: a write an AI tool wanted to make, applied only when a person approves it."""

from __future__ import annotations

from dataclasses import dataclass, fields
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
        values = {f.name: row[f.name] for f in fields(cls)}
        values["status"] = ProposalStatus(values["status"])
        values["payload"] = dict(values["payload"])
        if values["result"] is not None:
            values["result"] = dict(values["result"])
        return cls(**values)
