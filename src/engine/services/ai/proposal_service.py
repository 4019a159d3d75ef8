"""Proposals: writes AI tools wanted to make, applied only when a person approves them.

Rules (docs/services.md):
- A proposal made in a chat answer may be approved or rejected by a member of that chat who
  could make the write themselves through the API (for the calendar: anyone may create; the
  event's owner or an org admin may change or delete). The write is carried out as the
  approver, so the calendar's own permission checks decide.
- A proposal made by a proactive run (a calendar firing, a Telegram question) has no chat:
  only the person the run acted for (the event's owner) may decide it.
- pending → applied | rejected | failed | conflict, once: the row is locked and the
  transition is conditional, so approving twice applies once.
- A target that changed (`updated_at` differs) or vanished since the proposal is refused
  with 409 and the proposal is marked `conflict` with the reason.
- Rejecting the AI answer rejects its pending proposals (same transaction).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

from engine.agents.context import AgentContext
from engine.agents.tools import calendar as calendar_tool
from engine.errors import Conflict, EngineError, Forbidden, NotFound, Unprocessable
from engine.models.calendar import CalendarEvent
from engine.models.proposal import PlannedWrite, Proposal, ProposalStatus
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.calendar.calendar_service import CalendarService
from engine.services.chats.events import ChatEvent, ChatEventBus, EventType
from engine.storage.chats import ChatStorage
from engine.storage.messages import MessageStorage
from engine.storage.postgres.database import Database, Executor
from engine.storage.proposals import ProposalStorage

log = logging.getLogger(__name__)

ANSWER_REJECTED = "the AI answer was rejected"
_PROPOSAL_JSON = TypeAdapter(Proposal)


def proposal_data(proposal: Proposal) -> dict[str, Any]:
    """The JSON of a proposal as the API and the chat stream show it."""
    data: dict[str, Any] = _PROPOSAL_JSON.dump_python(proposal, mode="json")
    return data


class ProposalService:
    def __init__(
        self,
        db: Database,
        proposals: ProposalStorage,
        chats: ChatStorage,
        messages: MessageStorage,
        calendar: CalendarService,
        audit: AuditTrail,
        bus: ChatEventBus,
    ) -> None:
        self.db = db
        self.proposals = proposals
        self.chats = chats
        self.messages = messages
        self.calendar = calendar
        self.audit = audit
        self.bus = bus

    # -- made by agents ----------------------------------------------------------------
    async def propose(self, ctx: AgentContext, planned: PlannedWrite) -> str:
        """The tools' `Proposer`: store the write, tell the chat, tell the model."""
        in_chat = not ctx.proactive and ctx.chat_id is not None and ctx.message_id is not None
        proposal = await self.proposals.insert(
            ctx.org_id,
            planned,
            role_code=ctx.role.code,
            requested_by=ctx.user.id,
            chat_id=ctx.chat_id if in_chat else None,
            message_id=ctx.message_id if in_chat else None,
            calendar_run_id=ctx.calendar_run_id,
        )
        self._publish(EventType.PROPOSAL_CREATED, proposal)
        log.info(
            "proposal %s (%s %s) by role %s",
            proposal.id,
            planned.tool,
            planned.action,
            ctx.role.code,
        )
        return (
            f"Изменение НЕ выполнено: оно предложено и ждёт одобрения человеком "
            f"(предложение {proposal.id}: {planned.summary}). Скажи пользователю, что "
            "изменение нужно одобрить."
        )

    # -- reading -------------------------------------------------------------------------
    async def event_data(self, org_id: UUID, proposal_id: UUID) -> dict[str, Any] | None:
        """A proposal event relayed from another engine process (`PgEventRelay`)."""
        proposal = await self.proposals.get(org_id, proposal_id)
        return proposal_data(proposal) if proposal is not None else None

    async def list_for_message(self, actor: User, chat_id: UUID, message_id: int) -> list[Proposal]:
        await self._member_chat(actor, chat_id)
        if await self.messages.get(actor.org_id, chat_id, message_id) is None:
            raise NotFound("message not found")
        return await self.proposals.list_for_message(actor.org_id, message_id)

    async def list_outside_chats(
        self, actor: User, *, status: ProposalStatus | None, limit: int
    ) -> list[Proposal]:
        return await self.proposals.list_outside_chats(
            actor.org_id, actor.id, status=status, limit=limit
        )

    # -- deciding ------------------------------------------------------------------------
    async def approve(self, actor: User, proposal_id: UUID, *, chat_id: UUID | None) -> Proposal:
        await self._decidable(actor, proposal_id, chat_id)
        refusal: EngineError | None = None
        async with self.db.tenant(actor.org_id).transaction() as conn:
            proposal = await self.proposals.get(
                actor.org_id, proposal_id, for_update=True, conn=conn
            )
            assert proposal is not None
            if proposal.status is ProposalStatus.APPLIED:
                return proposal  # approved before: applied once, not again
            if proposal.status is not ProposalStatus.PENDING:
                raise Conflict(f"предложение уже в статусе «{proposal.status.value}»")
            conflict = await self._target_conflict(proposal, conn)
            if conflict is not None:
                decided = await self._decide(
                    conn, actor, proposal, ProposalStatus.CONFLICT, reason=conflict
                )
                refusal = Conflict(f"предложение устарело: {conflict}")
            else:
                try:
                    async with conn.transaction():  # a refused write leaves the status change
                        result = await self._apply(actor, proposal, conn)
                        decided = await self._decide(
                            conn, actor, proposal, ProposalStatus.APPLIED, result=result
                        )
                except Forbidden:
                    raise  # the approver lacks the right: nothing changes, still pending
                except EngineError as exc:
                    decided = await self._decide(
                        conn, actor, proposal, ProposalStatus.FAILED, reason=exc.detail
                    )
                    refusal = Unprocessable(f"изменение не удалось применить: {exc.detail}")
        self._publish(EventType.PROPOSAL_UPDATED, decided)
        if refusal is not None:
            raise refusal
        return decided

    async def reject(self, actor: User, proposal_id: UUID, *, chat_id: UUID | None) -> Proposal:
        await self._decidable(actor, proposal_id, chat_id)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            proposal = await self.proposals.get(
                actor.org_id, proposal_id, for_update=True, conn=conn
            )
            assert proposal is not None
            if proposal.status is ProposalStatus.REJECTED:
                return proposal
            if proposal.status is not ProposalStatus.PENDING:
                raise Conflict(f"предложение уже в статусе «{proposal.status.value}»")
            decided = await self._decide(conn, actor, proposal, ProposalStatus.REJECTED)
        self._publish(EventType.PROPOSAL_UPDATED, decided)
        return decided

    async def reject_for_answer(
        self, conn: Executor, actor: User, chat_id: UUID, message_id: int
    ) -> list[Proposal]:
        """Inside the transaction that rejects the AI answer; call `published` after it."""
        rejected = await self.proposals.reject_pending_for_message(
            conn, actor.org_id, message_id, by=actor.id, reason=ANSWER_REJECTED
        )
        for proposal in rejected:
            await self._audit(conn, actor, proposal, "proposal.rejected")
        return rejected

    def published(self, proposals: list[Proposal]) -> None:
        for proposal in proposals:
            self._publish(EventType.PROPOSAL_UPDATED, proposal)

    # -- helpers -------------------------------------------------------------------------
    async def _member_chat(self, actor: User, chat_id: UUID) -> None:
        if await self.chats.get_for_member(actor.org_id, chat_id, actor.id) is None:
            raise NotFound("chat not found")

    async def _decidable(self, actor: User, proposal_id: UUID, chat_id: UUID | None) -> None:
        """404 unless `actor` may see the proposal where they ask for it."""
        proposal = await self.proposals.get(actor.org_id, proposal_id)
        if proposal is None:
            raise NotFound("proposal not found")
        if chat_id is not None:
            if proposal.chat_id != chat_id:
                raise NotFound("proposal not found")
            await self._member_chat(actor, chat_id)
        elif proposal.chat_id is not None or proposal.requested_by != actor.id:
            raise NotFound("proposal not found")

    async def _target_conflict(self, proposal: Proposal, conn: Executor) -> str | None:
        if proposal.target_id is None:
            return None
        if proposal.target_type != calendar_tool.TARGET:
            return None
        event: CalendarEvent | None = await self.calendar.events.get(
            proposal.org_id, UUID(proposal.target_id), for_update=True, conn=conn
        )
        if event is None:
            return "событие удалено после предложения"
        if event.updated_at.isoformat() != proposal.target_version:
            return "событие изменено после предложения"
        return None

    async def _apply(self, actor: User, proposal: Proposal, conn: Executor) -> dict[str, Any]:
        if proposal.tool != calendar_tool.TOOL:
            raise Unprocessable(f"unknown tool {proposal.tool!r}")
        event = await calendar_tool.apply_calendar_write(
            self.calendar, actor, proposal.action, proposal.target_id, proposal.payload, conn=conn
        )
        return {"event_id": str(event.id)} if event is not None else {"deleted": True}

    async def _decide(
        self,
        conn: Executor,
        actor: User,
        proposal: Proposal,
        status: ProposalStatus,
        *,
        reason: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> Proposal:
        decided = await self.proposals.decide(
            conn,
            actor.org_id,
            proposal.id,
            status=status,
            by=actor.id,
            reason=reason,
            result=result,
        )
        assert decided is not None  # the row is locked and was pending
        action = "proposal.approved" if status is ProposalStatus.APPLIED else f"proposal.{status}"
        await self._audit(conn, actor, decided, action)
        return decided

    async def _audit(self, conn: Executor, actor: User, proposal: Proposal, action: str) -> None:
        await self.audit.record(
            conn,
            org_id=actor.org_id,
            actor=actor,
            action=action,
            target_type="proposal",
            target_id=proposal.id,
            details={
                "tool": proposal.tool,
                "action": proposal.action,
                "target_id": proposal.target_id,
                "status": proposal.status.value,
                "reason": proposal.status_reason,
            },
        )

    def _publish(self, event_type: EventType, proposal: Proposal) -> None:
        if proposal.chat_id is not None:
            self.bus.publish(proposal.chat_id, ChatEvent(event_type, proposal_data(proposal)))
