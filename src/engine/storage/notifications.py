"""Notification channels, the outbox and the per-attempt log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from engine.models.notification import (
    AttemptStatus,
    Channel,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
    TelegramLink,
)
from engine.storage.postgres.database import Database, Executor

_CHANNEL_COLUMNS = (
    "id, org_id, user_id, type, address, priority, enabled, verified, created_at, updated_at"
)
_CHANNEL_UPDATABLE = {"address", "priority", "enabled", "verified"}
_NOTIFICATION_COLUMNS = (
    "id, org_id, user_id, subject, body, all_channels, source, status, attempts, "
    "next_attempt_at, last_error, created_at, finished_at"
)
_LOG_COLUMNS = (
    "id, org_id, user_id, notification_id, channel_id, channel_type, address, status, error, "
    "attempt, source, created_at, finished_at"
)


class ChannelStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        org_id: UUID,
        user_id: UUID,
        *,
        type: str,
        address: str,
        priority: int,
        enabled: bool,
        verified: bool = False,
        conn: Executor | None = None,
    ) -> Channel:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"""INSERT INTO notification_channels
                    (org_id, user_id, type, address, priority, enabled, verified)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_CHANNEL_COLUMNS}""",
            org_id,
            user_id,
            type,
            address,
            priority,
            enabled,
            verified,
        )
        return Channel.from_row(row)

    async def get(self, org_id: UUID, channel_id: UUID) -> Channel | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"SELECT {_CHANNEL_COLUMNS} FROM notification_channels "
            "WHERE org_id = $1 AND id = $2 AND NOT is_deleted",
            org_id,
            channel_id,
        )
        return Channel.from_row(row) if row else None

    async def list_for_user(self, org_id: UUID, user_id: UUID) -> list[Channel]:
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_CHANNEL_COLUMNS} FROM notification_channels
                WHERE org_id = $1 AND user_id = $2 AND NOT is_deleted
                ORDER BY priority DESC, created_at, id""",
            org_id,
            user_id,
        )
        return [Channel.from_row(r) for r in rows]

    async def deliverable(self, org_id: UUID, user_id: UUID) -> list[Channel]:
        """Channels to try, highest priority first; a Telegram chat only once linked."""
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_CHANNEL_COLUMNS} FROM notification_channels
                WHERE org_id = $1 AND user_id = $2 AND NOT is_deleted AND enabled
                  AND (type <> 'telegram' OR verified)
                ORDER BY priority DESC, created_at, id""",
            org_id,
            user_id,
        )
        return [Channel.from_row(r) for r in rows]

    async def update(
        self,
        org_id: UUID,
        channel_id: UUID,
        changes: dict[str, Any],
        *,
        conn: Executor | None = None,
    ) -> Channel | None:
        unknown = set(changes) - _CHANNEL_UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if not changes:
            return await self.get(org_id, channel_id)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=3))
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"UPDATE notification_channels SET {assignments}, updated_at = now() "
            f"WHERE org_id = $1 AND id = $2 AND NOT is_deleted RETURNING {_CHANNEL_COLUMNS}",
            org_id,
            channel_id,
            *changes.values(),
        )
        return Channel.from_row(row) if row else None

    async def soft_delete(
        self, org_id: UUID, channel_id: UUID, *, conn: Executor | None = None
    ) -> bool:
        status = await (conn or self.db.tenant(org_id)).execute(
            "UPDATE notification_channels SET is_deleted = true, updated_at = now() "
            "WHERE org_id = $1 AND id = $2 AND NOT is_deleted",
            org_id,
            channel_id,
        )
        return status.endswith(" 1")

    # Telegram chats are installation-wide (one bot serves every organization), so the
    # chat-id lookups below are the deliberate exception to filtering by org_id.
    async def link_telegram(
        self, org_id: UUID, user_id: UUID, chat_id: str, *, priority: int, conn: Executor
    ) -> Channel:
        """Make `chat_id` this user's verified Telegram channel, and nobody else's."""
        await conn.execute(
            """UPDATE notification_channels SET is_deleted = true, updated_at = now()
               WHERE type = 'telegram' AND address = $1 AND NOT is_deleted
                 AND NOT (org_id = $2 AND user_id = $3)""",
            chat_id,
            org_id,
            user_id,
        )
        row = await conn.fetchrow(
            f"""UPDATE notification_channels SET verified = true, enabled = true,
                       updated_at = now()
                WHERE org_id = $1 AND user_id = $2 AND type = 'telegram' AND address = $3
                  AND NOT is_deleted
                RETURNING {_CHANNEL_COLUMNS}""",
            org_id,
            user_id,
            chat_id,
        )
        if row is None:
            row = await conn.fetchrow(
                f"""INSERT INTO notification_channels
                        (org_id, user_id, type, address, priority, enabled, verified)
                    VALUES ($1, $2, 'telegram', $3, $4, true, true)
                    RETURNING {_CHANNEL_COLUMNS}""",
                org_id,
                user_id,
                chat_id,
                priority,
            )
        return Channel.from_row(row)

    async def unlink_telegram(
        self, chat_id: str, *, conn: Executor | None = None
    ) -> list[TelegramLink]:
        """The channels removed (every organization's: a Telegram chat is global)."""
        rows = await (conn or self.db.system("telegram")).fetch(
            "UPDATE notification_channels SET is_deleted = true, updated_at = now() "
            "WHERE type = 'telegram' AND address = $1 AND NOT is_deleted "
            "RETURNING org_id, user_id, id",
            chat_id,
        )
        return [TelegramLink(r["org_id"], r["user_id"], r["id"]) for r in rows]

    async def telegram_owner(self, chat_id: str) -> TelegramLink | None:
        row = await self.db.system("telegram").fetchrow(
            """SELECT c.org_id, c.user_id, c.id FROM notification_channels c
               JOIN users u ON u.id = c.user_id
               WHERE c.type = 'telegram' AND c.address = $1 AND c.verified
                 AND NOT c.is_deleted AND u.is_active AND NOT u.is_deleted
               ORDER BY c.updated_at DESC LIMIT 1""",
            chat_id,
        )
        return TelegramLink(row["org_id"], row["user_id"], row["id"]) if row else None


class NotificationStorage:
    """The outbox: stored first, delivered by whichever process claims it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(
        self,
        org_id: UUID,
        user_id: UUID,
        *,
        subject: str,
        body: str,
        all_channels: bool,
        source: str,
        conn: Executor | None = None,
    ) -> UUID:
        notification_id: UUID = await (conn or self.db.tenant(org_id)).fetchval(
            """INSERT INTO notifications (org_id, user_id, subject, body, all_channels, source)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            org_id,
            user_id,
            subject,
            body,
            all_channels,
            source,
        )
        return notification_id

    async def claim(
        self, now: datetime, *, lease_until: datetime, limit: int
    ) -> list[Notification]:
        """Take due notifications (and ones whose sender died) of every organization."""
        rows = await self.db.system("notification dispatcher").fetch(
            f"""UPDATE notifications SET status = 'sending', attempts = attempts + 1,
                       lease_until = $2
                WHERE id IN (
                    SELECT id FROM notifications
                    WHERE (status = 'pending' AND next_attempt_at <= $1)
                       OR (status = 'sending' AND lease_until < $1)
                    ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                RETURNING {_NOTIFICATION_COLUMNS}""",
            now,
            lease_until,
            limit,
        )
        return [Notification.from_row(r) for r in rows]

    async def renew(
        self, claims: Sequence[tuple[UUID, int]], *, lease_until: datetime
    ) -> set[UUID]:
        """Extend the leases of deliveries still in flight; return the ids still held.

        A claim is (id, attempts): a notification taken over by another process after a
        lapsed lease has a higher attempt number and is left alone.
        """
        if not claims:
            return set()
        rows = await self.db.system("notification dispatcher").fetch(
            """UPDATE notifications n SET lease_until = $3
               FROM unnest($1::uuid[], $2::int[]) AS c(id, attempts)
               WHERE n.id = c.id AND n.attempts = c.attempts AND n.status = 'sending'
               RETURNING n.id""",
            [notification_id for notification_id, _ in claims],
            [attempts for _, attempts in claims],
            lease_until,
        )
        return {r["id"] for r in rows}

    async def finish(
        self,
        org_id: UUID,
        notification_id: UUID,
        attempts: int,
        *,
        status: NotificationStatus,
        last_error: str | None,
    ) -> bool:
        result = await self.db.tenant(org_id).execute(
            """UPDATE notifications SET status = $3, last_error = $4, lease_until = NULL,
                      finished_at = now()
               WHERE org_id = $5 AND id = $1 AND attempts = $2 AND status = 'sending'""",
            notification_id,
            attempts,
            status.value,
            last_error,
            org_id,
        )
        return result.endswith(" 1")

    async def retry_later(
        self,
        org_id: UUID,
        notification_id: UUID,
        attempts: int,
        *,
        at: datetime,
        last_error: str | None,
    ) -> bool:
        result = await self.db.tenant(org_id).execute(
            """UPDATE notifications SET status = 'pending', next_attempt_at = $3,
                      last_error = $4, lease_until = NULL
               WHERE org_id = $5 AND id = $1 AND attempts = $2 AND status = 'sending'""",
            notification_id,
            attempts,
            at,
            last_error,
            org_id,
        )
        return result.endswith(" 1")

    async def get(self, org_id: UUID, notification_id: UUID) -> Notification | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE org_id = $1 AND id = $2",
            org_id,
            notification_id,
        )
        return Notification.from_row(row) if row else None

    async def list_for_user(
        self, org_id: UUID, user_id: UUID, *, limit: int, offset: int
    ) -> list[Notification]:
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_NOTIFICATION_COLUMNS} FROM notifications
                WHERE org_id = $1 AND user_id = $2
                ORDER BY created_at DESC, id LIMIT $3 OFFSET $4""",
            org_id,
            user_id,
            limit,
            offset,
        )
        return [Notification.from_row(r) for r in rows]


class NotificationLogStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(
        self,
        org_id: UUID,
        user_id: UUID,
        channel: Channel,
        *,
        attempt: int,
        notification_id: UUID | None,
        source: str,
    ) -> int:
        log_id: int = await self.db.tenant(org_id).fetchval(
            """INSERT INTO notification_log (org_id, user_id, notification_id, channel_id,
                                             channel_type, address, status, attempt, source)
               VALUES ($1, $2, $3, $4, $5, $6, 'sending', $7, $8) RETURNING id""",
            org_id,
            user_id,
            notification_id,
            channel.id,
            channel.type.value,
            channel.address,
            attempt,
            source,
        )
        return log_id

    async def finish(
        self, org_id: UUID, log_id: int, status: AttemptStatus, error: str | None
    ) -> None:
        await self.db.tenant(org_id).execute(
            "UPDATE notification_log SET status = $2, error = $3, finished_at = now() "
            "WHERE org_id = $4 AND id = $1",
            log_id,
            status.value,
            error,
            org_id,
        )

    async def settled_channels(
        self, org_id: UUID, notification_id: UUID
    ) -> dict[UUID, AttemptStatus]:
        """Channels this notification is done with: delivered, or failed for good."""
        rows = await self.db.tenant(org_id).fetch(
            """SELECT DISTINCT ON (channel_id) channel_id, status FROM notification_log
               WHERE org_id = $2 AND notification_id = $1 AND channel_id IS NOT NULL
                 AND status IN ('sent', 'permanent_error')
               ORDER BY channel_id, (status = 'sent') DESC""",
            notification_id,
            org_id,
        )
        return {r["channel_id"]: AttemptStatus(r["status"]) for r in rows}

    async def get(self, org_id: UUID, log_id: int) -> DeliveryAttempt | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"SELECT {_LOG_COLUMNS} FROM notification_log WHERE org_id = $1 AND id = $2",
            org_id,
            log_id,
        )
        return DeliveryAttempt.from_row(row) if row else None

    async def list_page(
        self,
        org_id: UUID,
        *,
        user_id: UUID | None,
        notification_id: UUID | None = None,
        limit: int,
        offset: int,
    ) -> list[DeliveryAttempt]:
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_LOG_COLUMNS} FROM notification_log
                WHERE org_id = $1 AND ($2::uuid IS NULL OR user_id = $2)
                  AND ($3::uuid IS NULL OR notification_id = $3)
                ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5""",
            org_id,
            user_id,
            notification_id,
            limit,
            offset,
        )
        return [DeliveryAttempt.from_row(r) for r in rows]
