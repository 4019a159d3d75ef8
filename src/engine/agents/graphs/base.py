"""What every graph runner gets: the LLM gate, the tools, and a way to run other roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from langchain_core.messages import BaseMessage

from engine.agents.context import AgentContext
from engine.agents.tools.registry import ToolRegistry
from engine.llm.gate import ChatGate
from engine.models.role import Role

RunRole = Callable[[AgentContext, list[BaseMessage]], Awaitable[str]]
LoadRole = Callable[[AgentContext, str], Awaitable[Role | None]]


@dataclass(frozen=True, slots=True)
class GraphDeps:
    gate: ChatGate
    tools: ToolRegistry
    max_steps: int
    run_role: RunRole
    load_role: LoadRole
    system_prompt: Callable[[Role], str]


class GraphRunner(Protocol):
    async def __call__(
        self, deps: GraphDeps, ctx: AgentContext, messages: list[BaseMessage]
    ) -> str: ...
