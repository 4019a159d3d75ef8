from __future__ import annotations

import logging
from uuid import UUID

from engine.errors import Forbidden, NotFound, Unprocessable
from engine.models.access import Revocation, RevocationReason
from engine.models.chat import Chat, ChatKind
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.chats.events import ChatEvent, ChatEventBus, EventType
from engine.storage.chats import ChatStorage
from engine.storage.postgres.database import Database, Executor
from engine.storage.users import UserStorage

log = logging.getLogger(__name__)

MAX_MEMBERS = 500


class ChatService:
    def __init__(
        self,
        db: Database,
        chats: ChatStorage,
        users: UserStorage,
        bus: ChatEventBus,
        audit: AuditTrail,
    ) -> None:
        self.db = db
        self.audit = audit
        self.chats = chats
        self.users = users
        self.bus = bus

    async def _require_users(self, actor: User, user_ids: list[UUID]) -> None:
        for user_id in user_ids:
            user = await self.users.get(actor.org_id, user_id)
            if user is None or not user.is_active:
                raise NotFound(f"user {user_id} not found")

    async def create(
        self, actor: User, *, kind: ChatKind, title: str, member_ids: list[UUID]
    ) -> tuple[Chat, bool]:
        """Create a chat; a direct chat that already exists is returned instead (False)."""
        others = list(dict.fromkeys(uid for uid in member_ids if uid != actor.id))
        if len(others) + 1 > MAX_MEMBERS:
            raise Unprocessable(f"a chat has at most {MAX_MEMBERS} members")
        if kind is ChatKind.DIRECT and len(others) != 1:
            raise Unprocessable("a direct chat has exactly one other member")
        await self._require_users(actor, others)
        if kind is ChatKind.DIRECT:
            existing = await self.chats.find_direct(actor.org_id, actor.id, others[0])
            if existing is not None:
                return await self.get(actor, existing), False
        async with self.db.tenant(actor.org_id).transaction() as conn:
            chat_id = await self.chats.create(
                actor.org_id,
                kind=kind,
                title=title,
                created_by=actor.id,
                member_ids=[actor.id, *others],
                conn=conn,
            )
            await self.audit.record(
                conn,
                org_id=actor.org_id,
                actor=actor,
                action="chat.created",
                target_type="chat",
                target_id=chat_id,
                details={"kind": kind.value, "member_ids": [str(u) for u in [actor.id, *others]]},
            )
        return await self.get(actor, chat_id), True

    async def get(self, actor: User, chat_id: UUID) -> Chat:
        """The chat as its member sees it (last message, unread count); 404 for others."""
        chat = await self.chats.view_for_member(actor.org_id, chat_id, actor.id)
        if chat is None:
            raise NotFound("chat not found")
        return chat

    async def require_member(self, actor: User, chat_id: UUID) -> Chat:
        chat = await self.chats.get_for_member(actor.org_id, chat_id, actor.id)
        if chat is None:
            raise NotFound("chat not found")
        return chat

    async def mark_read(self, actor: User, chat_id: UUID, message_id: int) -> None:
        """Move the actor's read marker forward to `message_id` (never back)."""
        await self.require_member(actor, chat_id)
        if not await self.chats.mark_read(actor.org_id, chat_id, actor.id, message_id):
            raise Unprocessable(f"message {message_id} is not a message of this chat")

    async def list_mine(
        self, actor: User, *, include_archived: bool, limit: int, offset: int
    ) -> list[Chat]:
        return await self.chats.list_for_member(
            actor.org_id, actor.id, include_archived=include_archived, limit=limit, offset=offset
        )

    async def _require_manager(self, actor: User, chat: Chat) -> None:
        if actor.is_org_admin or chat.created_by == actor.id:
            return
        if not await self.chats.is_owner(chat.org_id, chat.id, actor.id):
            raise Forbidden("only the chat's owner or an administrator may do this")

    async def rename(self, actor: User, chat_id: UUID, title: str) -> Chat:
        chat = await self.require_member(actor, chat_id)
        await self._require_manager(actor, chat)
        await self.chats.rename(actor.org_id, chat_id, title)
        self.bus.publish(chat_id, ChatEvent(EventType.CHAT_UPDATED, {"chat_id": str(chat_id)}))
        return await self.get(actor, chat_id)

    async def set_archived(self, actor: User, chat_id: UUID, archived: bool) -> Chat:
        chat = await self.require_member(actor, chat_id)
        await self._require_manager(actor, chat)
        await self.chats.set_archived(actor.org_id, chat_id, archived)
        return await self.get(actor, chat_id)

    async def add_member(self, actor: User, chat_id: UUID, user_id: UUID) -> Chat:
        chat = await self.require_member(actor, chat_id)
        if chat.kind is ChatKind.DIRECT:
            raise Unprocessable("members of a direct chat cannot change")
        await self._require_manager(actor, chat)
        await self._require_users(actor, [user_id])
        if len(chat.member_ids) >= MAX_MEMBERS:
            raise Unprocessable(f"a chat has at most {MAX_MEMBERS} members")
        async with self.db.tenant(actor.org_id).transaction() as conn:
            await self.chats.add_member(actor.org_id, chat_id, user_id, conn=conn)
            await self._audit_member(conn, actor, chat_id, "chat.member_added", user_id)
        self.bus.publish(chat_id, ChatEvent(EventType.CHAT_MEMBER_ADDED, {"user_id": str(user_id)}))
        return await self.get(actor, chat_id)

    async def remove_member(self, actor: User, chat_id: UUID, user_id: UUID) -> None:
        chat = await self.require_member(actor, chat_id)
        if chat.kind is ChatKind.DIRECT:
            raise Unprocessable("members of a direct chat cannot change")
        if user_id != actor.id:
            await self._require_manager(actor, chat)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            if not await self.chats.remove_member(actor.org_id, chat_id, user_id, conn=conn):
                raise NotFound("member not found")
            await self._audit_member(conn, actor, chat_id, "chat.member_removed", user_id)
        self.bus.revoke(
            Revocation(
                RevocationReason.MEMBER_REMOVED, actor.org_id, user_id=user_id, chat_id=chat_id
            )
        )
        self.bus.publish(
            chat_id, ChatEvent(EventType.CHAT_MEMBER_REMOVED, {"user_id": str(user_id)})
        )

    async def _audit_member(
        self, conn: Executor, actor: User, chat_id: UUID, action: str, user_id: UUID
    ) -> None:
        await self.audit.record(
            conn,
            org_id=actor.org_id,
            actor=actor,
            action=action,
            target_type="chat",
            target_id=chat_id,
            details={"user_id": str(user_id)},
        )
