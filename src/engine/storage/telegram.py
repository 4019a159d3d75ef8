"""Telegram link tokens and the de-duplication of incoming updates."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from engine.storage.postgres.database import Database, Executor


class TelegramLinkStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, org_id: UUID, user_id: UUID, token_hash: str, *, expires_at: datetime
    ) -> None:
        await self.db.tenant(org_id).execute(
            "INSERT INTO telegram_link_tokens (token_hash, org_id, user_id, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            token_hash,
            org_id,
            user_id,
            expires_at,
        )

    async def consume(
        self, token_hash: str, chat_id: str, *, now: datetime, conn: Executor
    ) -> tuple[UUID, UUID] | None:
        """Use a token once: (org_id, user_id), or None when unknown, expired or used."""
        row = await conn.fetchrow(
            """UPDATE telegram_link_tokens SET used_at = now(), chat_id = $2
               WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $3
               RETURNING org_id, user_id""",
            token_hash,
            chat_id,
            now,
        )
        return (row["org_id"], row["user_id"]) if row else None


class TelegramUpdateStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, update_id: int) -> bool:
        """True for the first process to see this update, False for every repeat."""
        claimed = await self.db.shared().fetchval(
            "INSERT INTO telegram_updates (update_id) VALUES ($1) "
            "ON CONFLICT (update_id) DO NOTHING RETURNING true",
            update_id,
        )
        return bool(claimed)

    async def forget_before(self, moment: datetime) -> int:
        status = await self.db.shared().execute(
            "DELETE FROM telegram_updates WHERE received_at < $1", moment
        )
        return int(status.split()[-1])
