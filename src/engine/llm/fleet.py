"""Which model server a call goes to: the one whose slot the running job holds.

The AI worker (or a proactive run) takes a slot of one backend from the database and puts
a `SlotLease` in the context of the task that runs the job; every model call the agent
makes then goes to that backend, one at a time (a slot is one generation). A call that
fails because of the server (unreachable, cut off, 5xx, timed out, model missing) is
handed to the lease's `reroute`, which records the failure and moves the slot to another
backend, or gives up; the call is then made again there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from engine.llm.gate import LLMError, LLMFailure, LLMGate, TokenCallback

SERVER_FAILURES = frozenset(
    {
        LLMFailure.UNREACHABLE,
        LLMFailure.TIMED_OUT,
        LLMFailure.CLOSED_MID_ANSWER,
        LLMFailure.SERVER_ERROR,
        LLMFailure.MODEL_MISSING,
    }
)
"""Failures that say something about the server, not about the question."""


@dataclass(eq=False)
class SlotLease:
    job_id: int | None
    backend: str
    reroute: Callable[[SlotLease, LLMError], Awaitable[None]] | None = None
    """Move to another backend after `error`, or raise it."""
    on_success: Callable[[str], None] | None = None
    failed: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


CURRENT_LEASE: ContextVar[SlotLease | None] = ContextVar("rugpt_slot_lease", default=None)


class FleetGate:
    """A `ChatGate` over one `LLMGate` per backend."""

    def __init__(self, gates: dict[str, LLMGate], default: str) -> None:
        self.gates = gates
        self.default = default

    @property
    def in_flight(self) -> int:
        return sum(g.in_flight for g in self.gates.values())

    @property
    def waiting(self) -> int:
        return sum(g.waiting for g in self.gates.values())

    @property
    def max_concurrency(self) -> int:
        return sum(g.max_concurrency for g in self.gates.values())

    async def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        on_token: TokenCallback | None = None,
    ) -> AIMessage:
        lease = CURRENT_LEASE.get()
        if lease is None:  # a call outside the queue (tests, tools run by hand)
            return await self.gates[self.default].complete(messages, tools=tools, on_token=on_token)
        async with lease.lock:
            while True:
                gate = self.gates[lease.backend]
                try:
                    reply = await gate.complete(messages, tools=tools, on_token=on_token)
                except LLMError as exc:
                    if exc.kind not in SERVER_FAILURES or lease.reroute is None:
                        raise
                    await lease.reroute(lease, exc)
                    continue
                if lease.on_success is not None:
                    lease.on_success(lease.backend)
                return reply
