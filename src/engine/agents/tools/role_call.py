"""`role_call`: ask another AI role and return its answer (depth-limited, no cycles)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from engine.agents.context import AgentContext
from engine.agents.tools.registry import ToolSpec

MAX_DEPTH = 2

AskRole = Callable[[AgentContext, str, str], Awaitable[str]]


class RoleCallArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role_code: str = Field(max_length=64, description="код роли: lawyer, accountant, hr, chu")
    question: str = Field(min_length=1, max_length=4000, description="вопрос этой роли")


def role_call_tool(ask_role: AskRole) -> ToolSpec:
    async def call(ctx: AgentContext, args: RoleCallArgs) -> str:
        target = args.role_code.strip().lstrip("@").lower()
        if target == ctx.role.code or target in ctx.call_chain:
            return f"Нельзя обратиться к роли {target}: это создаст цикл обращений."
        if ctx.depth >= MAX_DEPTH:
            return "Слишком глубокая цепочка обращений между ролями; ответь сам."
        return await ask_role(ctx, target, args.question)

    return ToolSpec(
        name="role_call",
        description="Задать вопрос другой роли (юрист, бухгалтер, HR...) и получить её ответ.",
        args_model=RoleCallArgs,
        handler=call,
    )
