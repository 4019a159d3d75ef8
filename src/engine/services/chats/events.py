"""In-process fan-out of chat events to Server-Sent Events subscribers."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from engine.models.access import Revocation, RevocationReason
from engine.models.chat import Message

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000


class EventType(StrEnum):
    """Every event a chat's stream (`GET /chats/{id}/events`) can send; docs/api.md lists the
    same set (tests/docs/test_api_doc.py compares them)."""

    READY = "ready"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    MESSAGE_STATUS = "message.status"
    MESSAGE_DELETED = "message.deleted"
    AI_TOKEN = "ai.token"
    CHAT_UPDATED = "chat.updated"
    CHAT_MEMBER_ADDED = "chat.member_added"
    CHAT_MEMBER_REMOVED = "chat.member_removed"
    PROPOSAL_CREATED = "proposal.created"
    PROPOSAL_UPDATED = "proposal.updated"
    RESYNC = "resync"
    ACCESS_REVOKED = "access.revoked"


# published by services/ai/proposal_service.py; `data` is a ProposalOut
PROPOSAL_EVENTS = (EventType.PROPOSAL_CREATED, EventType.PROPOSAL_UPDATED)


@dataclass(frozen=True, slots=True)
class ChatEvent:
    type: EventType
    data: dict[str, Any] = field(default_factory=dict)
    message: Message | None = None


def revoked_event(reason: RevocationReason) -> ChatEvent:
    return ChatEvent(EventType.ACCESS_REVOKED, {"reason": reason.value})


@dataclass(eq=False)
class Subscription:
    """One stream's bounded queue and whose access it rides on.

    A subscriber too slow to keep up is not dropped events silently: once its queue is full
    it takes no more (`overflowed`) until it has drained the queue and told its client to
    re-read (a `resync` event). A revocation empties the queue and leaves a single
    `access.revoked` in it; nothing is delivered after that.
    """

    chat_id: UUID
    org_id: UUID | None = None
    user_id: UUID | None = None
    session_id: UUID | None = None
    queue: asyncio.Queue[ChatEvent] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False
    revoked: RevocationReason | None = None

    async def get(self) -> ChatEvent:
        return await self.queue.get()

    def offer(self, event: ChatEvent) -> None:
        if self.revoked is not None or self.overflowed:
            return
        if self.queue.full():
            self.overflowed = True
            log.warning("stream of chat %s fell %d events behind", self.chat_id, QUEUE_LIMIT)
            return
        self.queue.put_nowait(event)

    def matches(self, revocation: Revocation) -> bool:
        return (
            revocation.org_id == self.org_id
            and revocation.user_id in (None, self.user_id)
            and revocation.chat_id in (None, self.chat_id)
            and revocation.session_id in (None, self.session_id)
        )

    def revoke(self, reason: RevocationReason) -> None:
        self.revoked = reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(revoked_event(reason))


class ChatEventBus:
    """Subscribers get their own bounded queue; a slow one never slows the publisher."""

    def __init__(self) -> None:
        self._subscribers: dict[UUID, set[Subscription]] = defaultdict(set)
        self.forward: Callable[[UUID, ChatEvent], None] | None = None
        self.forward_revocation: Callable[[Revocation], None] | None = None

    def publish(self, chat_id: UUID, event: ChatEvent) -> None:
        """Deliver to this process's subscribers and hand to other processes (relay)."""
        self.publish_local(chat_id, event)
        if self.forward is not None:
            self.forward(chat_id, event)

    def publish_local(self, chat_id: UUID, event: ChatEvent) -> None:
        for subscription in list(self._subscribers.get(chat_id, ())):
            subscription.offer(event)

    def revoke(self, revocation: Revocation) -> None:
        """End the streams that `revocation` takes access from, here and in other processes."""
        self.revoke_local(revocation)
        if self.forward_revocation is not None:
            self.forward_revocation(revocation)

    def revoke_local(self, revocation: Revocation) -> int:
        chats = [revocation.chat_id] if revocation.chat_id is not None else list(self._subscribers)
        ended = 0
        for chat_id in chats:
            for subscription in list(self._subscribers.get(chat_id, ())):
                if subscription.revoked is None and subscription.matches(revocation):
                    subscription.revoke(revocation.reason)
                    ended += 1
        if ended:
            log.info("%d event streams ended: %s", ended, revocation.reason.value)
        return ended

    @asynccontextmanager
    async def subscribe(
        self,
        chat_id: UUID,
        *,
        org_id: UUID | None = None,
        user_id: UUID | None = None,
        session_id: UUID | None = None,
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(chat_id, org_id, user_id, session_id)
        self._subscribers[chat_id].add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(chat_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    self._subscribers.pop(chat_id, None)

    def subscriber_count(self, chat_id: UUID) -> int:
        return len(self._subscribers.get(chat_id, ()))
