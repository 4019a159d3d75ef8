from __future__ import annotations

from uuid import UUID

from engine.models.organization import Organization
from engine.storage.postgres.database import Database, Executor

_COLUMNS = "id, slug, name, is_system, is_active, created_at, updated_at"


class OrganizationStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, slug: str, name: str, *, is_system: bool = False, conn: Executor | None = None
    ) -> Organization:
        row = await (conn or self.db.system("organization admin")).fetchrow(
            f"INSERT INTO organizations (slug, name, is_system) VALUES ($1, $2, $3) "
            f"RETURNING {_COLUMNS}",
            slug,
            name,
            is_system,
        )
        return Organization.from_row(row)

    async def get(self, org_id: UUID, *, conn: Executor | None = None) -> Organization | None:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"SELECT {_COLUMNS} FROM organizations WHERE id = $1 AND NOT is_deleted", org_id
        )
        return Organization.from_row(row) if row else None

    async def get_by_slug(self, slug: str, *, conn: Executor | None = None) -> Organization | None:
        row = await (conn or self.db.system("organization admin")).fetchrow(
            f"SELECT {_COLUMNS} FROM organizations "
            "WHERE lower(slug) = lower($1) AND NOT is_deleted",
            slug,
        )
        return Organization.from_row(row) if row else None

    async def get_system(self, *, conn: Executor | None = None) -> Organization | None:
        row = await (conn or self.db.system("organization admin")).fetchrow(
            f"SELECT {_COLUMNS} FROM organizations WHERE is_system AND NOT is_deleted LIMIT 1"
        )
        return Organization.from_row(row) if row else None

    async def list_page(
        self, *, limit: int, offset: int, only_id: UUID | None = None
    ) -> list[Organization]:
        rows = await self.db.system("organization admin").fetch(
            f"SELECT {_COLUMNS} FROM organizations WHERE NOT is_deleted "
            "AND ($3::uuid IS NULL OR id = $3) ORDER BY created_at, id LIMIT $1 OFFSET $2",
            limit,
            offset,
            only_id,
        )
        return [Organization.from_row(r) for r in rows]

    async def update(
        self,
        org_id: UUID,
        *,
        name: str | None = None,
        is_active: bool | None = None,
        conn: Executor | None = None,
    ) -> Organization | None:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"""UPDATE organizations SET name = coalesce($2, name),
                   is_active = coalesce($3, is_active), updated_at = now()
                WHERE id = $1 AND NOT is_deleted RETURNING {_COLUMNS}""",
            org_id,
            name,
            is_active,
        )
        return Organization.from_row(row) if row else None

    async def soft_delete(self, org_id: UUID, *, conn: Executor | None = None) -> bool:
        status = await (conn or self.db.tenant(org_id)).execute(
            "UPDATE organizations SET is_deleted = true, is_active = false, updated_at = now() "
            "WHERE id = $1 AND NOT is_deleted AND NOT is_system",
            org_id,
        )
        return status.endswith(" 1")
