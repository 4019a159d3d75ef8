"""In-process fan-out of chat events to Server-Sent Events subscribers."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from engine.models.chat import Message

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
# published by services/ai/proposal_service.py; `data` is a ProposalOut
PROPOSAL_EVENTS = ("proposal.created", "proposal.updated")


@dataclass(frozen=True, slots=True)
class ChatEvent:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    message: Message | None = None


class ChatEventBus:
    """Subscribers get their own bounded queue; a slow one drops its oldest events, never
    slows the publisher."""

    def __init__(self) -> None:
        self._subscribers: dict[UUID, set[asyncio.Queue[ChatEvent]]] = defaultdict(set)
        self.forward: Callable[[UUID, ChatEvent], None] | None = None

    def publish(self, chat_id: UUID, event: ChatEvent) -> None:
        """Deliver to this process's subscribers and hand to other processes (relay)."""
        self.publish_local(chat_id, event)
        if self.forward is not None:
            self.forward(chat_id, event)

    def publish_local(self, chat_id: UUID, event: ChatEvent) -> None:
        for queue in list(self._subscribers.get(chat_id, ())):
            if queue.full():
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, chat_id: UUID) -> AsyncIterator[asyncio.Queue[ChatEvent]]:
        queue: asyncio.Queue[ChatEvent] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers[chat_id].add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(chat_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    self._subscribers.pop(chat_id, None)

    def subscriber_count(self, chat_id: UUID) -> int:
        return len(self._subscribers.get(chat_id, ()))
