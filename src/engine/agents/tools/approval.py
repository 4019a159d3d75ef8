"""Whether a tool's write runs at once or becomes a proposal a person must approve.

A role declares it per tool in its config: `{"write_approval": {"calendar": false}}` lets the
role's calendar writes apply at once; anything else (the default) needs approval. Reads never
do. Proactive runs (scheduler, Telegram) only ever propose, whatever the role says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from engine.agents.context import AgentContext
from engine.models.proposal import PlannedWrite

CONFIG_KEY = "write_approval"

# Stores the proposal and returns the text the model reads back.
Proposer = Callable[[AgentContext, PlannedWrite], Awaitable[str]]


def needs_approval(ctx: AgentContext, tool: str) -> bool:
    if ctx.proactive or ctx.message_id is None:
        return True
    declared = ctx.role.config.get(CONFIG_KEY)
    if not isinstance(declared, dict):
        return True
    return declared.get(tool, True) is not False
