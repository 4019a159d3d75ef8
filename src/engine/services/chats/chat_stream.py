"""One member's live stream of a chat: replay, live events, resync, and its end when access
is taken away or the access token it was opened with expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from engine.models.access import RevocationReason
from engine.models.user import User
from engine.services.chats.events import (
    ChatEvent,
    ChatEventBus,
    EventType,
    Subscription,
    revoked_event,
)
from engine.storage.chats import ChatStorage
from engine.storage.messages import MessageStorage
from engine.storage.organizations import OrganizationStorage
from engine.storage.users import UserStorage

REPLAY_LIMIT = 200
BATCH_LIMIT = 100
"""Events written at once, at most (a batch is one socket write)."""
PING_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class StreamGrant:
    """What a stream rides on: the member, their access token's session and expiry."""

    user: User
    chat_id: UUID
    session_id: UUID | None
    expires_at: float  # Unix time


class ChatStreamService:
    def __init__(
        self,
        bus: ChatEventBus,
        chats: ChatStorage,
        messages: MessageStorage,
        users: UserStorage,
        organizations: OrganizationStorage,
    ) -> None:
        self.bus = bus
        self.chats = chats
        self.messages = messages
        self.users = users
        self.organizations = organizations

    async def events(
        self,
        grant: StreamGrant,
        *,
        after_id: int | None,
        is_disconnected: Callable[[], Awaitable[bool]],
        ping_seconds: float = PING_SECONDS,
    ) -> AsyncGenerator[list[ChatEvent], None]:
        """`ready`, the messages missed since `after_id`, then live events until the client
        goes, access is revoked (`access.revoked`, last) or the token expires.

        Events come in batches: whatever is already waiting when the stream wakes up goes
        out together (the route writes a batch at once, one socket write instead of one per
        event: the tokens of a model that answers quickly arrive many to a loop turn).

        A subscriber that fell behind gets `resync` with the last message id it was sent and
        then live events again: it re-reads `GET …/messages?after_id=` to fill the gap.
        """
        user, chat_id = grant.user, grant.chat_id
        async with self.bus.subscribe(
            chat_id, org_id=user.org_id, user_id=user.id, session_id=grant.session_id
        ) as subscription:
            yield [ChatEvent(EventType.READY, {"chat_id": str(chat_id)})]
            # Subscribed first, checked second: access lost before the subscription existed
            # is seen here, access lost after it arrives as a revocation.
            lost = await self._access_lost(user, chat_id)
            if lost is not None:
                yield [revoked_event(lost)]
                return
            if after_id is None:
                position = await self.messages.latest_id(user.org_id, chat_id)
            else:
                position = after_id
                missed = await self.messages.page(
                    user.org_id, chat_id, limit=REPLAY_LIMIT, after_id=after_id
                )
                replay = [ChatEvent(EventType.MESSAGE_CREATED, message=m) for m in missed]
                if missed:
                    position = missed[-1].id
                if len(missed) == REPLAY_LIMIT:  # more were missed than one replay holds
                    replay.append(_resync(position))
                if replay:
                    yield replay
            async for batch in self._live(subscription, grant, is_disconnected, ping_seconds):
                for index, event in enumerate(batch):
                    if event.type is EventType.RESYNC:
                        batch[index] = _resync(position)
                    elif event.message is not None and event.type is EventType.MESSAGE_CREATED:
                        position = max(position, event.message.id)
                yield batch

    async def _live(
        self,
        subscription: Subscription,
        grant: StreamGrant,
        is_disconnected: Callable[[], Awaitable[bool]],
        ping_seconds: float,
    ) -> AsyncIterator[list[ChatEvent]]:
        queue = subscription.queue
        while True:
            if subscription.overflowed and queue.empty():
                subscription.overflowed = False
                yield [ChatEvent(EventType.RESYNC)]
            left = grant.expires_at - time.time()
            if left <= 0:
                yield [revoked_event(RevocationReason.TOKEN_EXPIRED)]
                return
            batch: list[ChatEvent] = []
            if queue.empty():
                try:
                    async with asyncio.timeout(min(ping_seconds, left)):
                        batch.append(await queue.get())
                except TimeoutError:
                    if await is_disconnected():
                        return
                    continue
            while (
                len(batch) < BATCH_LIMIT
                and not queue.empty()
                and (not batch or batch[-1].type is not EventType.ACCESS_REVOKED)
            ):
                batch.append(queue.get_nowait())
            yield batch
            if batch[-1].type is EventType.ACCESS_REVOKED:
                return

    async def _access_lost(self, user: User, chat_id: UUID) -> RevocationReason | None:
        if await self.users.get_active_for_token(user.org_id, user.id) is None:
            org = await self.organizations.get(user.org_id)
            if org is None or not org.is_active:
                return RevocationReason.ORG_DEACTIVATED
            return RevocationReason.USER_DEACTIVATED
        if await self.chats.get_for_member(user.org_id, chat_id, user.id) is None:
            return RevocationReason.MEMBER_REMOVED
        return None


def _resync(after_id: int) -> ChatEvent:
    return ChatEvent(EventType.RESYNC, {"after_id": after_id})
