from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.models.chat import AIJob, Message
from engine.storage.postgres.database import Database, Executor

_COLUMNS = (
    "id, org_id, chat_id, author_id, role_code, kind, content, reply_to_id, ai_status, "
    "ai_error, ai_validated, validation, validated_by, validated_at, meta, is_edited, "
    "is_deleted, created_at, updated_at"
)


# $3's account and $1 (its organization) are active: what authenticating a request checks,
# checked again by the statement that does the request's work (services/identity/access.py,
# `Caller`), so a request needs no separate round trip to read the account.
_ACTIVE_ACCOUNT = """SELECT 1 FROM users u JOIN organizations o ON o.id = u.org_id
        WHERE u.org_id = $1 AND u.id = $3 AND u.is_active AND NOT u.is_deleted
          AND o.is_active AND NOT o.is_deleted"""

# A member's message ($1 org, $2 chat, $3 author, $4 content, $5 reply-to id), inserted as
# `ins` only if the author is an active member of an open chat with an active account and
# the message it replies to (if any) is a live message of the same chat; shared by both
# insert paths.
_MEMBER_INSERT = f"""WITH member AS (
        SELECT 1 FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
        WHERE cm.chat_id = $2 AND cm.user_id = $3 AND cm.is_active
          AND c.org_id = $1 AND NOT c.is_deleted AND NOT c.is_archived
          AND EXISTS ({_ACTIVE_ACCOUNT})),
    reply AS (
        SELECT id FROM messages
        WHERE id = $5 AND chat_id = $2 AND org_id = $1 AND NOT is_deleted),
    ins AS (
        INSERT INTO messages (org_id, chat_id, author_id, kind, content, reply_to_id)
        SELECT $1, $2, $3, 'user', $4, (SELECT id FROM reply)
        WHERE EXISTS (SELECT 1 FROM member)
          AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM reply))
        RETURNING {_COLUMNS})"""
_TOUCH_CHAT = """touch AS (
        UPDATE chats SET last_message_at = now()
        WHERE id = $2 AND EXISTS (SELECT 1 FROM ins))"""


# The member check of a page ($1 org, $2 chat, $3 reader): a one-time filter in the plan, so
# the page still reads its index only (tests/storage/test_message_pages.py).
_READER = f"""EXISTS (
        SELECT 1 FROM chats c
        JOIN chat_members me ON me.chat_id = c.id AND me.user_id = $3 AND me.is_active
        WHERE c.org_id = $1 AND c.id = $2 AND NOT c.is_deleted
          AND EXISTS ({_ACTIVE_ACCOUNT}))"""


def _page_query(
    org_id: UUID,
    chat_id: UUID,
    limit: int,
    before_id: int | None,
    after_id: int | None,
    *,
    member: UUID | None,
) -> tuple[str, list[Any]]:
    """A page's statement and arguments. `before_id` has a statement of its own, not
    `($n IS NULL OR id < $n)`: as a prepared statement's generic plan that condition cannot
    bound the index scan, and a page deep in a long chat read every newer message of it
    (bench/README.md, benchmark 5)."""
    args: list[Any] = [org_id, chat_id]
    where = "org_id = $1 AND chat_id = $2 AND NOT is_deleted"
    if member is not None:
        args.append(member)
        where += f" AND {_READER}"
    order = "id DESC"
    if after_id is not None:
        args.append(after_id)
        where += f" AND id > ${len(args)}"
        order = "id"
    elif before_id is not None:
        args.append(before_id)
        where += f" AND id < ${len(args)}"
    args.append(limit)
    return (
        f"SELECT {_COLUMNS} FROM messages WHERE {where} ORDER BY {order} LIMIT ${len(args)}",
        args,
    )


class MessageStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_by_member(
        self,
        org_id: UUID,
        chat_id: UUID,
        author_id: UUID,
        content: str,
        reply_to_id: int | None,
        *,
        conn: Executor | None = None,
    ) -> Message | None:
        """Insert a human message only if the author is an active member of an open chat, with
        an active account in an active organization, and `reply_to_id` (if given) is a live
        message of that chat; None otherwise.

        One round trip: account and membership check, insert and the chat's `last_message_at`.
        """
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"{_MEMBER_INSERT}, {_TOUCH_CHAT} SELECT * FROM ins",
            org_id,
            chat_id,
            author_id,
            content,
            reply_to_id,
        )
        return Message.from_row(row) if row else None

    async def insert_with_ai_requests(
        self,
        org_id: UUID,
        chat_id: UUID,
        author_id: UUID,
        content: str,
        reply_to_id: int | None,
        role_codes: list[str],
    ) -> tuple[Message, list[Message]] | None:
        """A member's message and a pending AI placeholder for each of `role_codes` that is
        an active role of the organization (in that order), in one statement and one
        transaction. None when the author may not post in the chat (as insert_by_member).
        """
        rows = await self.db.tenant(org_id).fetch(
            f"""{_MEMBER_INSERT},
                wanted AS (
                    SELECT w.code, w.ord FROM unnest($6::text[]) WITH ORDINALITY AS w(code, ord)
                    JOIN roles r ON r.org_id = $1 AND r.code = w.code AND r.is_active),
                ai AS (
                    INSERT INTO messages (org_id, chat_id, role_code, kind, reply_to_id,
                                          ai_status, ai_requested_by)
                    SELECT $1, $2, wanted.code, 'ai', ins.id, 'pending', $3
                    FROM ins CROSS JOIN wanted ORDER BY wanted.ord
                    RETURNING {_COLUMNS}),
                {_TOUCH_CHAT}
                SELECT * FROM ins UNION ALL SELECT * FROM ai""",
            org_id,
            chat_id,
            author_id,
            content,
            reply_to_id,
            role_codes,
        )
        if not rows:
            return None
        inserted = [Message.from_row(r) for r in rows]
        message = next(m for m in inserted if not m.is_ai)
        return message, sorted((m for m in inserted if m.is_ai), key=lambda m: m.id)

    async def insert_ai_placeholder(
        self,
        org_id: UUID,
        chat_id: UUID,
        role_code: str,
        request_message_id: int | None,
        requested_by: UUID | None,
        *,
        conn: Executor | None = None,
    ) -> Message:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"""INSERT INTO messages (org_id, chat_id, role_code, kind, reply_to_id, ai_status,
                                      ai_requested_by)
                VALUES ($1, $2, $3, 'ai', $4, 'pending', $5) RETURNING {_COLUMNS}""",
            org_id,
            chat_id,
            role_code,
            request_message_id,
            requested_by,
        )
        return Message.from_row(row)

    async def insert_mentions(
        self,
        org_id: UUID,
        chat_id: UUID,
        message_id: int,
        user_ids: list[UUID],
        *,
        conn: Executor | None = None,
    ) -> None:
        await (conn or self.db.tenant(org_id)).executemany(
            "INSERT INTO mentions (org_id, chat_id, message_id, user_id) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING",
            [(org_id, chat_id, message_id, uid) for uid in user_ids],
        )

    async def set_mention_notification(
        self, org_id: UUID, message_id: int, user_id: UUID, notification_id: UUID
    ) -> None:
        await self.db.tenant(org_id).execute(
            "UPDATE mentions SET notification_id = $4 "
            "WHERE org_id = $1 AND message_id = $2 AND user_id = $3",
            org_id,
            message_id,
            user_id,
            notification_id,
        )

    async def get(
        self, org_id: UUID, chat_id: UUID, message_id: int, *, conn: Executor | None = None
    ) -> Message | None:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"SELECT {_COLUMNS} FROM messages WHERE org_id = $1 AND chat_id = $2 AND id = $3 "
            "AND NOT is_deleted",
            org_id,
            chat_id,
            message_id,
        )
        return Message.from_row(row) if row else None

    async def get_by_id(self, org_id: UUID, message_id: int) -> Message | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"SELECT {_COLUMNS} FROM messages WHERE org_id = $1 AND id = $2", org_id, message_id
        )
        return Message.from_row(row) if row else None

    async def latest_id(self, org_id: UUID, chat_id: UUID) -> int:
        """The id of the chat's newest live message; 0 when it has none."""
        latest = await self.db.tenant(org_id).fetchval(
            "SELECT max(id) FROM messages WHERE org_id = $1 AND chat_id = $2 AND NOT is_deleted",
            org_id,
            chat_id,
        )
        return int(latest or 0)

    async def page(
        self,
        org_id: UUID,
        chat_id: UUID,
        *,
        limit: int,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[Message]:
        """Newest first (optionally older than `before_id`), or oldest first after `after_id`."""
        query, args = _page_query(org_id, chat_id, limit, before_id, after_id, member=None)
        rows = await self.db.tenant(org_id).fetch(query, *args)
        return [Message.from_row(r) for r in rows]

    async def page_for_member(
        self,
        org_id: UUID,
        chat_id: UUID,
        user_id: UUID,
        *,
        limit: int,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[Message]:
        """As `page`, only if `user_id` is an active member of the (not deleted) chat with an
        active account in an active organization: empty otherwise, as for a chat with nothing
        on that page. One round trip for the check and the page."""
        query, args = _page_query(org_id, chat_id, limit, before_id, after_id, member=user_id)
        rows = await self.db.tenant(org_id).fetch(query, *args)
        return [Message.from_row(r) for r in rows]

    async def history(
        self, org_id: UUID, chat_id: UUID, *, up_to_id: int, limit: int
    ) -> list[Message]:
        """Context for an AI answer: the last `limit` finished messages up to `up_to_id`, oldest
        first; pending and failed AI placeholders are left out."""
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT * FROM (
                    SELECT {_COLUMNS} FROM messages
                    WHERE org_id = $1 AND chat_id = $2 AND id <= $3 AND NOT is_deleted
                      AND (kind <> 'ai' OR ai_status = 'done')
                      AND coalesce(validation, '') <> 'rejected'
                    ORDER BY id DESC LIMIT $4) recent
                ORDER BY id""",
            org_id,
            chat_id,
            up_to_id,
            limit,
        )
        return [Message.from_row(r) for r in rows]

    async def edit(
        self, org_id: UUID, chat_id: UUID, message_id: int, content: str
    ) -> Message | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"""UPDATE messages SET content = $4, is_edited = true, updated_at = now()
                WHERE org_id = $1 AND chat_id = $2 AND id = $3 AND NOT is_deleted
                RETURNING {_COLUMNS}""",
            org_id,
            chat_id,
            message_id,
            content,
        )
        return Message.from_row(row) if row else None

    async def soft_delete(self, org_id: UUID, chat_id: UUID, message_id: int) -> bool:
        status = await self.db.tenant(org_id).execute(
            "UPDATE messages SET is_deleted = true, updated_at = now() "
            "WHERE org_id = $1 AND chat_id = $2 AND id = $3 AND NOT is_deleted",
            org_id,
            chat_id,
            message_id,
        )
        return status.endswith(" 1")

    async def set_validation(
        self,
        org_id: UUID,
        chat_id: UUID,
        message_id: int,
        *,
        validated: bool,
        by: UUID,
        conn: Executor | None = None,
    ) -> Message | None:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"""UPDATE messages SET ai_validated = $4,
                       validation = CASE WHEN $4 THEN 'validated' ELSE 'rejected' END,
                       validated_by = $5, validated_at = now(), updated_at = now()
                WHERE org_id = $1 AND chat_id = $2 AND id = $3 AND kind = 'ai'
                  AND ai_status = 'done' AND NOT is_deleted
                RETURNING {_COLUMNS}""",
            org_id,
            chat_id,
            message_id,
            validated,
            by,
        )
        return Message.from_row(row) if row else None

    # --- AI work: the queue (storage/ai_queue.py) hands a job out; its message follows ---

    async def begin_ai_job(self, org_id: UUID, message_id: int, attempts: int) -> AIJob | None:
        """Mark the answer `running` (its `attempts`-th try); None when it is gone or done."""
        row = await self.db.tenant(org_id).fetchrow(
            """UPDATE messages SET ai_status = 'running', ai_attempts = $3,
                      ai_started_at = now(), updated_at = now()
               WHERE org_id = $1 AND id = $2 AND kind = 'ai' AND NOT is_deleted
                 AND ai_status IN ('pending', 'running')
               RETURNING id, org_id, chat_id, role_code, reply_to_id, ai_requested_by,
                         ai_attempts""",
            org_id,
            message_id,
            attempts,
        )
        if row is None:
            return None
        return AIJob(
            message_id=row["id"],
            org_id=row["org_id"],
            chat_id=row["chat_id"],
            role_code=row["role_code"],
            request_message_id=row["reply_to_id"],
            requested_by=row["ai_requested_by"],
            attempts=row["ai_attempts"],
        )

    async def finish_ai_job(
        self, org_id: UUID, message_id: int, *, content: str, meta: dict[str, Any]
    ) -> Message | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"""UPDATE messages SET ai_status = 'done', content = $2, meta = $3, ai_error = NULL,
                       ai_finished_at = now(), updated_at = now()
                WHERE org_id = $4 AND id = $1 AND ai_status = 'running' RETURNING {_COLUMNS}""",
            message_id,
            content,
            meta,
            org_id,
        )
        return Message.from_row(row) if row else None

    async def fail_ai_job(
        self, org_id: UUID, message_id: int, *, error: str, meta: dict[str, Any] | None = None
    ) -> Message | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"""UPDATE messages SET ai_status = 'failed', ai_error = $2,
                       meta = coalesce($3, meta), ai_finished_at = now(), updated_at = now()
                WHERE org_id = $4 AND id = $1 AND ai_status IN ('pending', 'running')
                RETURNING {_COLUMNS}""",
            message_id,
            error,
            meta,
            org_id,
        )
        return Message.from_row(row) if row else None
