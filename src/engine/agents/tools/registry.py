"""Tools registered by name and bound per role from `role.tools`."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.agents.context import AgentContext, ToolCallRecord
from engine.errors import EngineError

log = logging.getLogger(__name__)

ToolHandler = Callable[[AgentContext, Any], Awaitable[str]]
TOOL_TIMEOUT_SECONDS = 600.0
MAX_TOOL_OUTPUT = 6000


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    args_model: type[BaseModel]
    handler: ToolHandler

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": _parameters(self.args_model),
            },
        }


@functools.cache
def _parameters(args_model: type[BaseModel]) -> dict[str, Any]:
    """A tool's JSON schema, built once per model: pydantic takes milliseconds to build it,
    and every model call of an agent with tools needs it (see bench/README.md).
    Shared by every call: read it, never change it."""
    parameters = args_model.model_json_schema()
    parameters.pop("title", None)
    return parameters


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def register(self, spec: ToolSpec) -> None:
        self._tools[spec.name] = spec

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def for_role(self, ctx: AgentContext) -> list[ToolSpec]:
        return [self._tools[name] for name in ctx.role.tools if name in self._tools]

    def schemas_for(self, ctx: AgentContext) -> list[dict[str, Any]]:
        return [spec.schema() for spec in self.for_role(ctx)]

    async def invoke(self, ctx: AgentContext, name: str, raw_args: Any) -> str:
        """Run one tool call from the model; every failure becomes text the model can read."""
        spec = self._tools.get(name)
        args = raw_args if isinstance(raw_args, dict) else {}
        if spec is None or name not in ctx.role.tools:
            result = f"Инструмент {name!r} недоступен этой роли."
        else:
            try:
                parsed = spec.args_model.model_validate(args)
                async with asyncio.timeout(TOOL_TIMEOUT_SECONDS):
                    result = await spec.handler(ctx, parsed)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                result = f"Неверные аргументы инструмента {name}: {problems}"
            except EngineError as exc:
                result = f"Ошибка инструмента {name}: {exc.detail}"
            except TimeoutError:
                result = f"Инструмент {name} не ответил вовремя."
            except Exception as exc:  # a tool bug must not kill the agent run
                log.exception("tool %s failed", name)
                result = f"Ошибка инструмента {name}: {type(exc).__name__}"
        result = result[:MAX_TOOL_OUTPUT]
        ctx.log.tool_calls.append(
            ToolCallRecord(name=name, args=_jsonable(args), result=result, role_code=ctx.role.code)
        )
        return result


def _jsonable(args: dict[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(args)
        return args
    except (TypeError, ValueError):
        return {k: str(v) for k, v in args.items()}
