"""The asyncpg pool, and the tenant contexts every statement runs in.

Row-level security (docs/storage.md, "Tenancy") lets the engine's runtime role see only the
rows of the organization its connection is set to. A storage never touches the pool: it
asks `Database` for a scope and runs its statements on that:

- `db.tenant(org_id)`: one organization's rows; what nearly every statement uses;
- `db.system(path)`: every organization's rows, for a short list of named cross-org paths
  (`SystemPath`): login, refresh tokens, organization administration, the background
  workers;
- `db.shared()`: no organization at all, for tables that belong to none (login throttling,
  Telegram update de-duplication);
- `db.tableless()`: statements that read no table (`pg_notify`, the clock, the health
  ping), on whatever connection is free, without switching its context.

A scope runs single statements (`fetch`, `fetchrow`, `fetchval`, `execute`, `executemany`)
on a pooled connection, or opens a transaction (`async with scope.transaction() as conn`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeAlias
from uuid import UUID

import asyncpg

from engine.storage.postgres.tenancy import APP_ROLE

SystemPath = Literal[
    "login",  # find an account by username or e-mail across organizations
    "refresh tokens",  # look a refresh token up by its hash; revoke its family
    "organization admin",  # the system administrator's organization CRUD and listing
    "bootstrap",  # the system organization and its administrator at start-up
    "scheduler",  # claim due calendar events and stale firings of every organization
    "notification dispatcher",  # claim due outbox entries of every organization
    "ai worker",  # claim an AI job by its message id; list unheld jobs of every organization
    "telegram",  # map a Telegram chat id (one bot for all organizations) to its user
    "audit",  # the system administrator's audit listing across organizations
]

# What a pooled connection's session is set to: an organization's id, "system" or None.
_SYSTEM = "system"
_KEEP = "keep"  # tableless(): leave an organization's context (or none) as it is
_SET_CONTEXT = (
    "SELECT set_config('app.org_id', $1, false), set_config('app.bypass_tenant', $2, false)"
)


class EngineConnection(asyncpg.Connection):
    """A pooled connection that remembers the tenant context its session is set to."""

    __slots__ = ("_tenant_context",)

    def tenant_context(self) -> str | None:
        return getattr(self, "_tenant_context", None)

    def remember_tenant_context(self, context: str | None) -> None:
        self._tenant_context = context


def _connection_init(role: str | None) -> Any:
    async def init(conn: asyncpg.Connection) -> None:
        for type_name in ("json", "jsonb"):
            await conn.set_type_codec(
                type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
            )
        if role is not None:
            # The migrations' owner connects; every statement of the engine runs as `role`,
            # which owns nothing and cannot bypass row-level security (docs/storage.md).
            await conn.execute(f'SET ROLE "{role}"')

    return init


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool `reset` hook: send nothing when a connection goes back to the pool.

    asyncpg's default sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release, one extra round trip per statement. asyncpg still rolls back an
    open transaction itself. The rule that makes this safe: code using a pooled
    connection leaves no session state behind (`SET LOCAL`, not `SET`; no `LISTEN`;
    session advisory locks are unlocked in a `finally`, as the migration runner does).
    The one session state kept on purpose is the tenant context, which `Database` tracks
    per connection and sets again whenever the next user needs another one.
    """


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    command_timeout: float,
    role: str | None = APP_ROLE,
) -> asyncpg.Pool:
    """The runtime pool; `role=None` keeps the DSN's own user (tests of the owner's view)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_connection_init(role),
        reset=_keep_session,
        max_inactive_connection_lifetime=300,
        connection_class=EngineConnection,
    )
    assert pool is not None
    return pool


class Scope:
    """Statements run with one tenant context: an organization, "system", or none."""

    def __init__(self, db: Database, context: str | None) -> None:
        self._db = db
        self._context = context

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._db._acquire(self._context) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self, join: Executor | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A new transaction, or `join`'s when the caller already holds one (a service
        method called from another service's transaction: one commit for both)."""
        if isinstance(join, asyncpg.Connection):
            yield join
            return
        async with self._db._acquire(self._context) as conn, conn.transaction():
            yield conn

    # The single-statement methods repeat three lines rather than share a context manager:
    # they run for every statement, and the generator-based one costs more than the check.
    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self._db._pool.acquire() as conn:
            if conn.tenant_context() != self._context:
                await self._db._switch(conn, self._context)
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self._db._pool.acquire() as conn:
            if conn.tenant_context() != self._context:
                await self._db._switch(conn, self._context)
            row: asyncpg.Record | None = await conn.fetchrow(query, *args)
            return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self._db._pool.acquire() as conn:
            if conn.tenant_context() != self._context:
                await self._db._switch(conn, self._context)
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self._db._pool.acquire() as conn:
            if conn.tenant_context() != self._context:
                await self._db._switch(conn, self._context)
            status: str = await conn.execute(query, *args)
            return status

    async def executemany(self, command: str, args: Any) -> None:
        async with self._db._pool.acquire() as conn:
            if conn.tenant_context() != self._context:
                await self._db._switch(conn, self._context)
            await conn.executemany(command, args)


# What storages run statements on: a scope, or the connection of a transaction a service
# opened (whose scope the service chose).
Executor: TypeAlias = asyncpg.Connection | Scope


class Database:
    """Owns the pool; hands out scopes. The pool itself is for `Database` alone."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def tenant(self, org_id: UUID) -> Scope:
        return Scope(self, str(org_id))

    def system(self, path: SystemPath) -> Scope:
        """Every organization's rows, for one of the named cross-org paths only."""
        return Scope(self, _SYSTEM)

    def shared(self) -> Scope:
        """No organization's rows: tables outside tenancy."""
        return Scope(self, None)

    def tableless(self) -> Scope:
        """For statements that touch no table: no switch, so no extra round trip.

        The event relay's `pg_notify` after every message would otherwise flip a connection
        out of its organization's context and the next statement back. A connection left
        in the system context is still switched to none first.
        """
        return Scope(self, _KEEP)

    @asynccontextmanager
    async def _acquire(self, context: str | None) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as conn:
            if conn.tenant_context() != context:
                await self._switch(conn, context)
            yield conn

    async def _switch(self, conn: asyncpg.Connection, context: str | None) -> None:
        """Set the session of a pooled connection to `context`.

        The context is a session setting, sent only when the connection last served another
        one: a transaction-local `SET LOCAL` would need its own transaction, `BEGIN` and
        `COMMIT` around every single statement, three round trips instead of one
        (bench/README.md, "Row-level security").
        """
        if context == _KEEP:
            if conn.tenant_context() != _SYSTEM:
                return
            context = None
        conn.remember_tenant_context("?")  # unknown until the statement succeeds
        org_id = "" if context in (None, _SYSTEM) else context
        bypass = "on" if context == _SYSTEM else "off"
        await conn.fetchval(_SET_CONTEXT, org_id, bypass)
        conn.remember_tenant_context(context)

    async def ping(self) -> bool:
        return await self.tableless().fetchval("SELECT 1") == 1

    async def close(self) -> None:
        await self._pool.close()
