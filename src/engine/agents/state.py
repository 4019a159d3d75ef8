from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.graph.message import add_messages


@dataclass
class AgentState:
    messages: Annotated[list[Any], add_messages] = field(default_factory=list)
    model_turns: int = 0


def unanswered_tool_calls(messages: list[AnyMessage]) -> list[Any]:
    """Tool calls of the last model turn that no ToolMessage has answered yet."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, AIMessage):
            answered = {m.tool_call_id for m in messages[index + 1 :] if isinstance(m, ToolMessage)}
            return [c for c in message.tool_calls if c.get("id") not in answered]
    return []
