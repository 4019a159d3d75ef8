"""The audit trail: services record each change in the transaction that makes it.

Who acted and on what comes from the service; the request id and the client address come
from the request context (set by `RequestContextMiddleware`), so services carry no HTTP
details. Background work has neither: both are stored as NULL.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.errors import NotFound
from engine.logging_setup import client_ip_var, request_id_var
from engine.models.audit import AuditEntry, AuditQuery
from engine.models.user import User
from engine.services.identity.access import require_org_admin
from engine.storage.audit import AuditStorage
from engine.storage.postgres.database import Executor


class AuditTrail:
    def __init__(self, storage: AuditStorage) -> None:
        self.storage = storage

    async def record(
        self,
        conn: Executor,
        *,
        org_id: UUID,
        actor: User | UUID | None,
        action: str,
        target_type: str | None = None,
        target_id: object | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one row inside `conn`'s transaction (a failure rolls the change back).

        `conn` may be the organization's scope only for events that change nothing (a
        failed login, a cleared prompt cache): then the row is its own statement.
        """
        request_id = request_id_var.get()
        await self.storage.insert(
            conn,
            org_id=org_id,
            actor_id=actor.id if isinstance(actor, User) else actor,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            details=details or {},
            request_id=None if request_id == "-" else request_id,
            client_ip=client_ip_var.get(),
        )

    async def record_alone(self, **fields: Any) -> None:
        """An event with no change to join (a failed login, a cleared cache)."""
        await self.record(self.storage.db.tenant(fields["org_id"]), **fields)

    async def page(self, actor: User, query: AuditQuery) -> list[AuditEntry]:
        """Org admins read their organization; the system administrator reads all (or one)."""
        if not actor.is_system_admin:
            require_org_admin(actor)
            if query.org_id is not None and query.org_id != actor.org_id:
                raise NotFound("organization not found")
            query = AuditQuery(**{**_fields(query), "org_id": actor.org_id})
        return await self.storage.page(query)


def _fields(query: AuditQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in AuditQuery.__dataclass_fields__}
