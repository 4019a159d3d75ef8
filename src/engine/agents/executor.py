"""AgentExecutor: runs an AI role by its `agent_type` and reports an `AgentResult`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from engine.agents.context import AgentContext, AgentResult, elapsed_ms
from engine.agents.graphs.base import GraphDeps, GraphRunner
from engine.agents.graphs.chain import run_chain
from engine.agents.graphs.multi_agent import run_multi_agent
from engine.agents.graphs.simple import run_simple
from engine.agents.prompt_cache import PromptCache
from engine.agents.tools.registry import ToolRegistry
from engine.llm.gate import ChatGate
from engine.models.role import AgentType, Role
from engine.storage.roles import RoleStorage

GRAPH_RUNNERS: dict[AgentType, GraphRunner] = {
    AgentType.SIMPLE: run_simple,
    AgentType.CHAIN: run_chain,
    AgentType.MULTI_AGENT: run_multi_agent,
}


class AgentExecutor:
    def __init__(
        self,
        gate: ChatGate,
        prompts: PromptCache,
        roles: RoleStorage,
        tools: ToolRegistry,
        *,
        max_steps: int = 6,
    ) -> None:
        self.gate = gate
        self.prompts = prompts
        self.roles = roles
        self.tools = tools
        self.deps = GraphDeps(
            gate=gate,
            tools=tools,
            max_steps=max_steps,
            run_role=self._run_role,
            load_role=self._load_role,
            system_prompt=self.system_prompt,
        )

    def system_prompt(self, role: Role) -> str:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{self.prompts.get(role.prompt_file)}\n\nТекущие дата и время: {now}."

    async def run(self, ctx: AgentContext, messages: list[BaseMessage]) -> AgentResult:
        started = time.perf_counter()
        text = await self._run_role(ctx, messages)
        log = ctx.log
        usage = None
        if log.usage_reported:
            usage = {
                "input_tokens": log.input_tokens,
                "output_tokens": log.output_tokens,
                "total_tokens": log.input_tokens + log.output_tokens,
            }
        return AgentResult(
            text=text,
            tool_calls=list(log.tool_calls),
            steps=list(log.steps),
            usage=usage,
            duration_ms=elapsed_ms(started),
            agent_type=ctx.role.agent_type.value,
            role_code=ctx.role.code,
            tools_unavailable=log.tools_unavailable,
        )

    async def ask(self, ctx: AgentContext, question: str) -> AgentResult:
        return await self.run(ctx, [HumanMessage(question)])

    async def ask_role(self, ctx: AgentContext, role_code: str, question: str) -> str:
        """The `role_call` tool: a nested run of another role of the same organization."""
        role = await self._load_role(ctx, role_code)
        if role is None:
            return f"Роль {role_code!r} не найдена в организации."
        answer = await self._run_role(ctx.child(role), [HumanMessage(question)])
        return answer or "Роль не дала ответа."

    async def _run_role(self, ctx: AgentContext, messages: list[BaseMessage]) -> str:
        runner = GRAPH_RUNNERS[ctx.role.agent_type]
        conversation = [m for m in messages if not isinstance(m, SystemMessage)]
        full = [SystemMessage(self.system_prompt(ctx.role)), *conversation]
        return await runner(self.deps, ctx, full)

    async def _load_role(self, ctx: AgentContext, code: str) -> Role | None:
        return await self.roles.get(ctx.org_id, code)
