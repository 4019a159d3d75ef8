"""The append-only audit trail: inserts (inside the caller's transaction) and pages."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from engine.models.audit import AuditEntry, AuditQuery
from engine.storage.postgres.database import Database, Executor

_COLUMNS = (
    "id, org_id, at, actor_id, action, target_type, target_id, details, request_id, client_ip"
)


class AuditStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self,
        conn: Executor,
        *,
        org_id: UUID,
        actor_id: UUID | None,
        action: str,
        target_type: str | None,
        target_id: str | None,
        details: dict[str, Any],
        request_id: str | None,
        client_ip: str | None,
    ) -> None:
        """`conn` is required on purpose: the row belongs to the caller's transaction."""
        await conn.execute(
            """INSERT INTO audit_log (org_id, actor_id, action, target_type, target_id,
                                      details, request_id, client_ip)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            org_id,
            actor_id,
            action,
            target_type,
            target_id,
            details,
            request_id,
            client_ip,
        )

    async def page(self, query: AuditQuery) -> list[AuditEntry]:
        """Newest first; the next page starts below the last id returned. Without an
        organization it reads every organization's rows (the system administrator's view)."""
        scope = self.db.tenant(query.org_id) if query.org_id else self.db.system("audit")
        rows = await scope.fetch(
            f"""SELECT {_COLUMNS} FROM audit_log
                WHERE ($1::uuid IS NULL OR org_id = $1)
                  AND ($2::text IS NULL OR action = $2)
                  AND ($3::uuid IS NULL OR actor_id = $3)
                  AND ($4::text IS NULL OR target_id = $4)
                  AND ($5::timestamptz IS NULL OR at >= $5)
                  AND ($6::timestamptz IS NULL OR at < $6)
                  AND ($7::bigint IS NULL OR id < $7)
                ORDER BY id DESC LIMIT $8""",
            query.org_id,
            query.action,
            query.actor_id,
            query.target_id,
            query.since,
            query.until,
            query.before_id,
            query.limit,
        )
        return [AuditEntry.from_row(r) for r in rows]


async def purge_older_than(conn: asyncpg.Connection, days: int) -> int:
    """Delete rows older than `days` days (database clock), of every organization. Only the
    table owner may (`rugpt audit-purge`, on a connection of its own): the engine's runtime
    role has no DELETE on audit_log. Row-level security is forced on the owner too, so the
    statement runs with the cross-organization setting, for its transaction only."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.bypass_tenant', 'on', true)")
        status: str = await conn.execute(
            "DELETE FROM audit_log WHERE at < now() - make_interval(days => $1)", days
        )
    return int(status.split()[-1])
