from __future__ import annotations

from uuid import UUID

from engine.models.chat import Chat, ChatKind, LastMessage
from engine.storage.postgres.database import Database, Executor

_CHAT = (
    "c.id, c.org_id, c.kind, c.title, c.created_by, c.is_archived, c.last_message_at, "
    "c.created_at, c.updated_at, "
    "ARRAY(SELECT m.user_id FROM chat_members m WHERE m.chat_id = c.id AND m.is_active "
    "ORDER BY m.joined_at, m.user_id) AS member_ids"
)

# What a member sees in a chat list: the chat, its last live message, the member's read
# marker and how many live messages by others came after it. Needs `me` (the member's row)
# joined; both subqueries walk the (org_id, chat_id, id) index of live messages.
_CHAT_VIEW = f"""{_CHAT}, me.last_read_message_id,
    lm.id AS lm_id, lm.kind AS lm_kind, lm.author_id AS lm_author_id,
    lm.role_code AS lm_role_code, lm.content AS lm_content, lm.created_at AS lm_created_at,
    (SELECT count(*) FROM messages u
     WHERE u.org_id = c.org_id AND u.chat_id = c.id AND NOT u.is_deleted
       AND u.id > coalesce(me.last_read_message_id, 0)
       AND u.author_id IS DISTINCT FROM me.user_id) AS unread_count"""
_LAST_MESSAGE = f"""LEFT JOIN LATERAL (
        SELECT m.id, m.kind, m.author_id, m.role_code,
               left(m.content, {LastMessage.PREVIEW_CHARS}) AS content, m.created_at
        FROM messages m
        WHERE m.org_id = c.org_id AND m.chat_id = c.id AND NOT m.is_deleted
        ORDER BY m.id DESC LIMIT 1) lm ON true"""


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

    async def view_for_member(self, org_id: UUID, chat_id: UUID, user_id: UUID) -> Chat | None:
        """As get_for_member, with the last message, read marker and unread count."""
        row = await self.db.tenant(org_id).fetchrow(
            f"""SELECT {_CHAT_VIEW} FROM chats c
                JOIN chat_members me ON me.chat_id = c.id AND me.user_id = $3 AND me.is_active
                {_LAST_MESSAGE}
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
            f"""SELECT {_CHAT_VIEW} FROM chats c
                JOIN chat_members me ON me.chat_id = c.id AND me.user_id = $2 AND me.is_active
                {_LAST_MESSAGE}
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

    async def add_member(
        self, org_id: UUID, chat_id: UUID, user_id: UUID, *, conn: Executor | None = None
    ) -> None:
        await (conn or self.db.tenant(org_id)).execute(
            """INSERT INTO chat_members (org_id, chat_id, user_id) VALUES ($1, $2, $3)
               ON CONFLICT (chat_id, user_id) DO UPDATE SET is_active = true, joined_at = now()""",
            org_id,
            chat_id,
            user_id,
        )

    async def remove_member(
        self, org_id: UUID, chat_id: UUID, user_id: UUID, *, conn: Executor | None = None
    ) -> bool:
        status = await (conn or self.db.tenant(org_id)).execute(
            "UPDATE chat_members SET is_active = false "
            "WHERE org_id = $1 AND chat_id = $2 AND user_id = $3 AND is_active",
            org_id,
            chat_id,
            user_id,
        )
        return status.endswith(" 1")

    async def mark_read(self, org_id: UUID, chat_id: UUID, user_id: UUID, message_id: int) -> bool:
        """Move the member's read marker forward to `message_id` (never back); False when
        `message_id` is not a message of the chat."""
        status = await self.db.tenant(org_id).execute(
            """UPDATE chat_members
               SET last_read_message_id = greatest(coalesce(last_read_message_id, 0), $4)
               WHERE org_id = $1 AND chat_id = $2 AND user_id = $3 AND is_active
                 AND EXISTS (SELECT 1 FROM messages
                             WHERE org_id = $1 AND chat_id = $2 AND id = $4)""",
            org_id,
            chat_id,
            user_id,
            message_id,
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
