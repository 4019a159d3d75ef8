from __future__ import annotations

from typing import Any

from engine.schemas.base import ReadModel


class RoleOut(ReadModel):
    code: str
    name: str
    description: str
    agent_type: str
    tools: list[str]
    prompt_file: str


class RoleDetailOut(RoleOut):
    config: dict[str, Any]
    prompt: str


class CacheClearedOut(ReadModel):
    cleared: int
