"""Refresh tokens (stored hashed) and failed-login counters."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from engine.models.auth import RefreshTokenRecord
from engine.storage.postgres.database import Database, Executor


class RefreshTokenStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        token_id: UUID,
        org_id: UUID,
        user_id: UUID,
        family_id: UUID,
        token_hash: str,
        expires_at: datetime,
        conn: Executor | None = None,
    ) -> None:
        await (conn or self.db.tenant(org_id)).execute(
            """INSERT INTO refresh_tokens (id, org_id, user_id, family_id, token_hash, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            token_id,
            org_id,
            user_id,
            family_id,
            token_hash,
            expires_at,
        )

    async def get_for_update(self, token_hash: str, conn: Executor) -> RefreshTokenRecord | None:
        row = await conn.fetchrow(
            """SELECT id, org_id, user_id, family_id, expires_at, used_at, revoked_at
               FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE""",
            token_hash,
        )
        return RefreshTokenRecord(**dict(row)) if row else None

    async def mark_used(self, token_id: UUID, conn: Executor) -> None:
        await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = $1", token_id)

    async def revoke_family(self, family_id: UUID, *, conn: Executor | None = None) -> None:
        await (conn or self.db.system("refresh tokens")).execute(
            "UPDATE refresh_tokens SET revoked_at = now() "
            "WHERE family_id = $1 AND revoked_at IS NULL",
            family_id,
        )

    async def purge_expired(self) -> int:
        """Delete refresh tokens past their expiry: they can never be used again."""
        status = await self.db.system("refresh tokens").execute(
            "DELETE FROM refresh_tokens WHERE expires_at < now()"
        )
        return int(status.split()[-1])

    async def revoke_user(
        self, org_id: UUID, user_id: UUID, *, conn: Executor | None = None
    ) -> None:
        await (conn or self.db.tenant(org_id)).execute(
            "UPDATE refresh_tokens SET revoked_at = now() "
            "WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL",
            org_id,
            user_id,
        )


class LoginFailureStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def count_recent(self, scope: str, key: str, window_seconds: int) -> int:
        return int(
            await self.db.shared().fetchval(
                """SELECT count(*) FROM login_failures
                   WHERE scope = $1 AND key = $2
                     AND failed_at > now() - make_interval(secs => $3)""",
                scope,
                key,
                float(window_seconds),
            )
        )

    async def record(self, account_key: str, ip_key: str) -> list[int]:
        rows = await self.db.shared().fetch(
            "INSERT INTO login_failures (scope, key) VALUES ('account', $1), ('ip', $2) "
            "RETURNING id",
            account_key,
            ip_key,
        )
        return [row["id"] for row in rows]

    async def forget(self, ids: list[int]) -> None:
        await self.db.shared().execute(
            "DELETE FROM login_failures WHERE id = ANY($1::bigint[])", ids
        )

    async def clear_account(self, account_key: str) -> None:
        await self.db.shared().execute(
            "DELETE FROM login_failures WHERE scope = 'account' AND key = $1", account_key
        )

    async def prune(self, older_than_seconds: int) -> None:
        await self.db.shared().execute(
            "DELETE FROM login_failures WHERE failed_at < now() - make_interval(secs => $1)",
            float(older_than_seconds),
        )
