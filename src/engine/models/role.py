from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID


class AgentType(StrEnum):
    SIMPLE = "simple"
    CHAIN = "chain"
    MULTI_AGENT = "multi_agent"


@dataclass(frozen=True, slots=True)
class Role:
    """An AI role of one organization: how its agent is built and which tools it gets."""

    id: UUID
    org_id: UUID
    code: str
    name: str
    description: str
    agent_type: AgentType
    tools: tuple[str, ...]
    prompt_file: str
    config: dict[str, Any] = field(default_factory=dict)
    is_active: bool = True

    @classmethod
    def from_row(cls, row: Any) -> Role:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            code=row["code"],
            name=row["name"],
            description=row["description"],
            agent_type=AgentType(row["agent_type"]),
            tools=tuple(row["tools"]),
            prompt_file=row["prompt_file"],
            config=dict(row["config"] or {}),
            is_active=row["is_active"],
        )
