"""Proposals of AI tool writes, as the API returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from engine.models.proposal import Proposal


class ProposalOut(BaseModel):
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
    status: str
    status_reason: str | None
    result: dict[str, Any] | None
    decided_by: UUID | None
    decided_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalOut:
        return cls(
            id=proposal.id,
            org_id=proposal.org_id,
            chat_id=proposal.chat_id,
            message_id=proposal.message_id,
            calendar_run_id=proposal.calendar_run_id,
            requested_by=proposal.requested_by,
            role_code=proposal.role_code,
            tool=proposal.tool,
            action=proposal.action,
            target_type=proposal.target_type,
            target_id=proposal.target_id,
            target_version=proposal.target_version,
            payload=proposal.payload,
            summary=proposal.summary,
            status=proposal.status.value,
            status_reason=proposal.status_reason,
            result=proposal.result,
            decided_by=proposal.decided_by,
            decided_at=proposal.decided_at,
            created_at=proposal.created_at,
        )
