"""What an agent run knows about who asked and where; tools take org and user from here only."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.messages import AIMessage

from engine.llm.gate import TOOLS_UNAVAILABLE, TokenCallback
from engine.models.role import Role
from engine.models.user import User


@dataclass(slots=True)
class ToolCallRecord:
    name: str
    args: dict[str, Any]
    result: str
    role_code: str


@dataclass(slots=True)
class StepRecord:
    name: str
    output: str
    role_code: str


@dataclass(slots=True)
class RunLog:
    """Shared by a run and every nested run it starts (role_call, delegation)."""

    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    usage_reported: bool = False
    tools_unavailable: str | None = None
    """Why the model answered without tools (it cannot call them, or called them wrongly)."""

    def note_reply(self, reply: AIMessage) -> None:
        """Record a model turn's token usage and whether it had to go without tools."""
        self.add_usage(reply.usage_metadata)  # type: ignore[arg-type]
        reason = reply.response_metadata.get(TOOLS_UNAVAILABLE)
        if reason and self.tools_unavailable is None:
            self.tools_unavailable = str(reason)

    def add_usage(self, usage: dict[str, Any] | None) -> None:
        if usage:
            self.usage_reported = True
            self.input_tokens += int(usage.get("input_tokens") or 0)
            self.output_tokens += int(usage.get("output_tokens") or 0)


@dataclass(slots=True)
class AgentContext:
    org_id: UUID
    user: User
    role: Role
    chat_id: UUID | None = None
    # the AI answer being produced (its proposals attach to it)
    message_id: int | None = None
    # a proactive run (calendar firing, Telegram): its writes are only ever proposed
    proactive: bool = False
    calendar_run_id: UUID | None = None
    depth: int = 0
    call_chain: tuple[str, ...] = ()
    on_token: TokenCallback | None = None
    log: RunLog = field(default_factory=RunLog)

    def child(self, role: Role) -> AgentContext:
        """Context for a nested run of another role: deeper, no token streaming."""
        return AgentContext(
            org_id=self.org_id,
            user=self.user,
            role=role,
            chat_id=self.chat_id,
            message_id=self.message_id,
            proactive=self.proactive,
            calendar_run_id=self.calendar_run_id,
            depth=self.depth + 1,
            call_chain=(*self.call_chain, self.role.code),
            on_token=None,
            log=self.log,
        )


@dataclass(frozen=True, slots=True)
class AgentResult:
    text: str
    tool_calls: list[ToolCallRecord]
    steps: list[StepRecord]
    usage: dict[str, int] | None
    duration_ms: float
    agent_type: str
    role_code: str
    tools_unavailable: str | None = None

    def to_meta(self) -> dict[str, Any]:
        meta = {
            "agent_type": self.agent_type,
            "role_code": self.role_code,
            "tool_calls": [
                {"name": t.name, "args": t.args, "result": t.result[:2000], "role": t.role_code}
                for t in self.tool_calls
            ],
            "steps": [
                {"name": s.name, "output": s.output[:4000], "role": s.role_code} for s in self.steps
            ],
            "usage": self.usage,
            "duration_ms": round(self.duration_ms, 1),
        }
        if self.tools_unavailable:
            meta[TOOLS_UNAVAILABLE] = self.tools_unavailable
        return meta


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
