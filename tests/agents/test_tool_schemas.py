"""Tool schemas are built once per argument model, not on every model call."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from engine.agents.tools import registry
from engine.agents.tools.registry import ToolSpec


class _Args(BaseModel):
    query: str
    limit: int = 5


async def _handler(ctx: Any, args: Any) -> str:
    return "ok"


def test_schema_is_built_once_and_stays_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ToolSpec("search", "Поиск", _Args, _handler)
    first = spec.schema()
    assert first["function"]["parameters"]["required"] == ["query"]
    assert "title" not in first["function"]["parameters"]
    monkeypatch.setattr(
        _Args, "model_json_schema", classmethod(lambda cls: pytest.fail("built again"))
    )
    assert spec.schema() == first
    other = ToolSpec("search2", "Другой поиск", _Args, _handler).schema()
    assert other["function"]["name"] == "search2"
    assert other["function"]["parameters"] is first["function"]["parameters"]
    assert registry._parameters.cache_info().hits >= 2
