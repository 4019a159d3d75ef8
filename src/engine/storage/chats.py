from __future__ import annotations

from uuid import UUID

from engine.models.chat import Chat, ChatKind
from engine.storage.database import Database, Executor

_CHAT = (
    "c.id, c.org_id, c.kind, c.title, c.created_by, c.is_archived, c.last_message_at, "
    "c.created_at, c.updated_at, "
    "ARRAY(SELECT m.user_id FROM chat_members m WHERE m.chat_id = c.id AND m.is_active "
    "ORDER BY m.joined_at, m.user_id) AS member_ids"
)


class ChatStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        org_id: UUID,
        *,
        kind: ChatKind,
        title: str,
        created_by: UUID,
        member_ids: list[UUID],
        conn: Executor,
    ) -> UUID:
        chat_id: UUID = await conn.fetchval(
            "INSERT INTO chats (org_id, kind, title, created_by) VALUES ($1, $2, $3, $4) "
            "RETURNING id",
            org_id,
            kind.value,
            title,
            created_by,
        )
        await conn.executemany(
            "INSERT INTO chat_members (org_id, chat_id, user_id, is_owner) VALUES ($1, $2, $3, $4)",
            [(org_id, chat_id, uid, uid == created_by) for uid in member_ids],
        )
        return chat_id

    async def find_direct(
        self, org_id: UUID, user_a: UUID, user_b: UUID, *, conn: Executor | None = None
    ) -> UUID | None:
        return await (conn or self.db.tenant(org_id)).fetchval(
            """SELECT c.id FROM chats c
               WHERE c.org_id = $1 AND c.kind = 'direct' AND NOT c.is_deleted
                 AND EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = c.id AND m.user_id = $2)
                 AND EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = c.id AND m.user_id = $3)
               ORDER BY c.created_at LIMIT 1""",
            org_id,
            user_a,
            user_b,
        )

    async def get_for_member(
        self, org_id: UUID, chat_id: UUID, user_id: UUID, *, conn: Executor | None = None
    ) -> Chat | None:
        """The chat if `user_id` is an active member of it; otherwise None."""
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"""SELECT {_CHAT} FROM chats c
                JOIN chat_members me ON me.chat_id = c.id AND me.user_id = $3 AND me.is_active
                WHERE c.org_id = $1 AND c.id = $2 AND NOT c.is_deleted""",
            org_id,
            chat_id,
            user_id,
        )
        return Chat.from_row(row) if row else None

    async def get(self, org_id: UUID, chat_id: UUID) -> Chat | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"SELECT {_CHAT} FROM chats c WHERE c.org_id = $1 AND c.id = $2 AND NOT c.is_deleted",
            org_id,
            chat_id,
        )
        return Chat.from_row(row) if row else None

    async def list_for_member(
        self, org_id: UUID, user_id: UUID, *, include_archived: bool, limit: int, offset: int
    ) -> list[Chat]:
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_CHAT} FROM chats c
                JOIN chat_members me ON me.chat_id = c.id AND me.user_id = $2 AND me.is_active
                WHERE c.org_id = $1 AND NOT c.is_deleted AND ($3 OR NOT c.is_archived)
                ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id
                LIMIT $4 OFFSET $5""",
            org_id,
            user_id,
            include_archived,
            limit,
            offset,
        )
        return [Chat.from_row(r) for r in rows]

    async def rename(self, org_id: UUID, chat_id: UUID, title: str) -> None:
        await self.db.tenant(org_id).execute(
            "UPDATE chats SET title = $3, updated_at = now() WHERE org_id = $1 AND id = $2",
            org_id,
            chat_id,
            title,
        )

    async def set_archived(self, org_id: UUID, chat_id: UUID, archived: bool) -> None:
        await self.db.tenant(org_id).execute(
            "UPDATE chats SET is_archived = $3, updated_at = now() WHERE org_id = $1 AND id = $2",
            org_id,
            chat_id,
            archived,
        )

    async def add_member(self, org_id: UUID, chat_id: UUID, user_id: UUID) -> None:
        await self.db.tenant(org_id).execute(
            """INSERT INTO chat_members (org_id, chat_id, user_id) VALUES ($1, $2, $3)
               ON CONFLICT (chat_id, user_id) DO UPDATE SET is_active = true, joined_at = now()""",
            org_id,
            chat_id,
            user_id,
        )

    async def remove_member(self, org_id: UUID, chat_id: UUID, user_id: UUID) -> bool:
        status = await self.db.tenant(org_id).execute(
            "UPDATE chat_members SET is_active = false "
            "WHERE org_id = $1 AND chat_id = $2 AND user_id = $3 AND is_active",
            org_id,
            chat_id,
            user_id,
        )
        return status.endswith(" 1")

    async def is_owner(self, org_id: UUID, chat_id: UUID, user_id: UUID) -> bool:
        return bool(
            await self.db.tenant(org_id).fetchval(
                "SELECT is_owner FROM chat_members "
                "WHERE org_id = $3 AND chat_id = $1 AND user_id = $2",
                chat_id,
                user_id,
                org_id,
            )
        )
