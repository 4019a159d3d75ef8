"""The scripted model fleet the fleet tests share: three servers of capacities 1, 2 and 4."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from tests.fakes.llm_server import ScriptedLLM

CAPACITIES = {"fleet-small": 1, "fleet-mid": 2, "fleet-big": 4}


async def scripted_fleet(stack: AsyncExitStack) -> dict[str, ScriptedLLM]:
    """One scripted server per name of CAPACITIES, stopped when `stack` closes."""
    return {name: await stack.enter_async_context(ScriptedLLM()) for name in CAPACITIES}


def backends_of(servers: dict[str, ScriptedLLM]) -> list[dict[str, Any]]:
    """`LLM_BACKENDS` for those servers, each with its capacity."""
    return [
        {
            "name": name,
            "provider": "ollama",
            "base_url": servers[name].ollama_base_url,
            "model": "qwen2.5:7b",
            "capacity": capacity,
        }
        for name, capacity in CAPACITIES.items()
    ]
