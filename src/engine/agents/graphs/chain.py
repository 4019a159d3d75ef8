"""`chain`: sequential steps declared in the role's config; each output feeds the next."""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from engine.agents.context import AgentContext, StepRecord
from engine.agents.graphs.base import GraphDeps

DEFAULT_STEPS = [{"name": "answer", "instruction": "Ответь на вопрос пользователя."}]


async def run_chain(deps: GraphDeps, ctx: AgentContext, messages: list[BaseMessage]) -> str:
    steps = ctx.role.config.get("steps") or DEFAULT_STEPS
    system = deps.system_prompt(ctx.role)
    conversation = [m for m in messages if not isinstance(m, SystemMessage)]
    previous = ""
    for index, step in enumerate(steps):
        name = str(step.get("name") or f"step{index + 1}")
        instruction = str(step.get("instruction") or "")
        prompt = [
            SystemMessage(
                f"{system}\n\n## Текущий шаг {index + 1} из {len(steps)}: {name}\n{instruction}"
            ),
            *conversation,
        ]
        if previous:
            prompt.append(
                HumanMessage(f"Результат предыдущего шага:\n{previous}\n\nВыполни текущий шаг.")
            )
        is_last = index == len(steps) - 1
        reply = await deps.gate.complete(prompt, on_token=ctx.on_token if is_last else None)
        ctx.log.add_usage(reply.usage_metadata)  # type: ignore[arg-type]
        previous = str(reply.content).strip()
        ctx.log.steps.append(StepRecord(name=name, output=previous, role_code=ctx.role.code))
    return previous
