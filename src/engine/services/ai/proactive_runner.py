"""Proactive agent runs (scheduler, Telegram) carried out by the chats' AgentExecutor."""

from __future__ import annotations

from uuid import UUID

from engine.agents.context import AgentContext
from engine.agents.executor import AgentExecutor
from engine.models.ai_queue import Priority
from engine.models.calendar import AgentRunOutcome
from engine.services.ai.fleet import AIFleet
from engine.storage.roles import RoleStorage
from engine.storage.users import UserStorage


class ExecutorProactiveRunner:
    """A ProactiveAgentRunner: the role answers as if `user_id` had asked it in a chat.

    The run waits for a slot of the fleet in the shared queue: a calendar firing (`run_id`)
    as proactive work, after the people waiting in chats; a Telegram question as a person
    waiting."""

    def __init__(
        self, executor: AgentExecutor, users: UserStorage, roles: RoleStorage, fleet: AIFleet
    ) -> None:
        self.fleet = fleet
        self.executor = executor
        self.users = users
        self.roles = roles

    async def __call__(
        self,
        *,
        org_id: UUID,
        user_id: UUID,
        role_code: str,
        prompt: str,
        context: str,
        run_id: UUID | None = None,
    ) -> AgentRunOutcome:
        """Writes of its tools are only proposed (`proactive`), attached to the calendar
        firing `run_id` when there is one, approvable by `user_id` alone."""
        user = await self.users.get(org_id, user_id)
        if user is None or not user.is_active:
            return AgentRunOutcome(None, "the user the agent acts for is not active")
        role = await self.roles.get(org_id, role_code)
        if role is None:
            return AgentRunOutcome(None, f"AI role '{role_code}' is not available")
        question = f"{context}\n\n{prompt}" if context else prompt
        priority = Priority.PERSON_WAITING if run_id is None else Priority.PROACTIVE
        async with self.fleet.hold(org_id, user_id, priority):
            result = await self.executor.ask(
                AgentContext(
                    org_id=org_id, user=user, role=role, proactive=True, calendar_run_id=run_id
                ),
                question,
            )
        text = (result.text or "").strip()
        return AgentRunOutcome(text, None) if text else AgentRunOutcome(None, "empty answer")
