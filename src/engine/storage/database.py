"""The asyncpg pool and the transaction helper every storage and service shares."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool `reset` hook: send nothing when a connection goes back to the pool.

    asyncpg's default sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release, one extra round trip per statement. asyncpg still rolls back an
    open transaction itself. The rule that makes this safe: code using a pooled
    connection leaves no session state behind (`SET LOCAL`, not `SET`; no `LISTEN`;
    session advisory locks are unlocked in a `finally`, as the migration runner does).
    """


async def create_pool(
    dsn: str, *, min_size: int, max_size: int, command_timeout: float
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
        reset=_keep_session,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    return pool


class Database:
    """Owns the pool; storages run single statements on it, services open transactions."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self, join: Executor | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A new transaction, or `join`'s when the caller already holds one (a service
        method called from another service's transaction: one commit for both)."""
        if isinstance(join, asyncpg.Connection):
            yield join
            return
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def ping(self) -> bool:
        return await self.pool.fetchval("SELECT 1") == 1

    async def close(self) -> None:
        await self.pool.close()
