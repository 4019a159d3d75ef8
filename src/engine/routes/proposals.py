"""Proposals made by proactive runs (calendar firings, Telegram), decided by the person the
run acted for. Proposals made in chats are under `/chats/{chat_id}/...`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from engine.models.proposal import ProposalStatus
from engine.routes.deps import MAX_PAGE_SIZE, CurrentUser, Engine
from engine.schemas.proposals import ProposalOut

router = APIRouter(prefix="/proposals", tags=["proposals"])


@router.get("", response_model=list[ProposalOut])
async def list_my_proposals(
    user: CurrentUser,
    engine: Engine,
    status: ProposalStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> list[ProposalOut]:
    """Proposals of proactive runs made on the caller's behalf, newest first."""
    return await engine.proposals.list_outside_chats(user, status=status, limit=limit)


@router.post("/{proposal_id}/approve", response_model=ProposalOut)
async def approve_proposal(proposal_id: UUID, user: CurrentUser, engine: Engine) -> ProposalOut:
    return await engine.proposals.approve(user, proposal_id, chat_id=None)


@router.post("/{proposal_id}/reject", response_model=ProposalOut)
async def reject_proposal(proposal_id: UUID, user: CurrentUser, engine: Engine) -> ProposalOut:
    return await engine.proposals.reject(user, proposal_id, chat_id=None)
