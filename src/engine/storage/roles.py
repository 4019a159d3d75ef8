from __future__ import annotations

from uuid import UUID

from engine.models.role import Role
from engine.storage.postgres.database import Database, Executor

_COLUMNS = "id, org_id, code, name, description, agent_type, tools, prompt_file, config, is_active"


class RoleStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def seed_from_templates(self, org_id: UUID, *, conn: Executor | None = None) -> None:
        """Copy the predefined catalog into an organization (idempotent)."""
        await (conn or self.db.tenant(org_id)).execute(
            """INSERT INTO roles (org_id, code, name, description, agent_type, tools,
                                  prompt_file, config)
               SELECT $1, code, name, description, agent_type, tools, prompt_file, config
               FROM role_templates
               ON CONFLICT (org_id, code) DO NOTHING""",
            org_id,
        )

    async def list_active(self, org_id: UUID) -> list[Role]:
        rows = await self.db.tenant(org_id).fetch(
            f"SELECT {_COLUMNS} FROM roles WHERE org_id = $1 AND is_active ORDER BY code", org_id
        )
        return [Role.from_row(r) for r in rows]

    async def get(self, org_id: UUID, code: str) -> Role | None:
        row = await self.db.tenant(org_id).fetchrow(
            f"SELECT {_COLUMNS} FROM roles WHERE org_id = $1 AND code = $2 AND is_active",
            org_id,
            code,
        )
        return Role.from_row(row) if row else None

    async def get_many(self, org_id: UUID, codes: list[str]) -> list[Role]:
        if not codes:
            return []
        rows = await self.db.tenant(org_id).fetch(
            f"SELECT {_COLUMNS} FROM roles WHERE org_id = $1 AND code = ANY($2::text[]) "
            "AND is_active",
            org_id,
            codes,
        )
        return [Role.from_row(r) for r in rows]
