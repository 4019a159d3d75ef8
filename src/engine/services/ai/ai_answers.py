"""Turns a queued AI message into an agent run over the chat's recent history."""

from __future__ import annotations

import asyncio
from uuid import UUID

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from engine.agents.context import AgentContext, AgentResult
from engine.agents.executor import AgentExecutor
from engine.config import Settings
from engine.llm.gate import TokenCallback
from engine.models.chat import AIJob, Message
from engine.models.user import User
from engine.services.ai.ai_worker import AIJobError
from engine.storage.messages import MessageStorage
from engine.storage.roles import RoleStorage
from engine.storage.users import UserStorage


class AIAnswerService:
    def __init__(
        self,
        settings: Settings,
        executor: AgentExecutor,
        messages: MessageStorage,
        roles: RoleStorage,
        users: UserStorage,
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.messages = messages
        self.roles = roles
        self.users = users

    async def answer(self, job: AIJob, on_token: TokenCallback) -> AgentResult:
        # Three independent reads at once (three pool connections, one round trip of
        # waiting instead of three): they are on the way to every answer.
        role, requester, history = await asyncio.gather(
            self.roles.get(job.org_id, job.role_code),
            self._requester(job),
            self.messages.history(
                job.org_id,
                job.chat_id,
                up_to_id=job.request_message_id or job.message_id,
                limit=self.settings.llm_history_messages,
            ),
        )
        if role is None:
            raise AIJobError(f"role {job.role_code!r} is not available")
        if requester is None:
            raise AIJobError("the person who asked is no longer active")
        conversation = await self._to_langchain(job.org_id, role.code, history)
        ctx = AgentContext(
            org_id=job.org_id,
            user=requester,
            role=role,
            chat_id=job.chat_id,
            message_id=job.message_id,
            on_token=on_token,
        )
        return await self.executor.run(ctx, conversation)

    async def _requester(self, job: AIJob) -> User | None:
        if job.requested_by is None:
            return None
        return await self.users.get_active_for_token(job.org_id, job.requested_by)

    async def _to_langchain(
        self, org_id: UUID, role_code: str, history: list[Message]
    ) -> list[BaseMessage]:
        author_ids = list({m.author_id for m in history if m.author_id})
        names: dict[UUID, User] = {u.id: u for u in await self.users.get_many(org_id, author_ids)}
        converted: list[BaseMessage] = []
        budget = self.settings.llm_history_chars
        for message in reversed(history):
            if message.is_ai and message.role_code == role_code:
                item: BaseMessage = AIMessage(message.content)
            elif message.is_ai:
                item = HumanMessage(f"[@@{message.role_code}]: {message.content}")
            else:
                author = names.get(message.author_id) if message.author_id else None
                who = (
                    f"{author.full_name or author.username} (@{author.username})" if author else "?"
                )
                item = HumanMessage(f"{who}: {message.content}")
            size = len(str(item.content))
            if converted and size > budget:
                break
            budget -= size
            converted.append(item)
        converted.reverse()
        return converted
