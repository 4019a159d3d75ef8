from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.models.user import AccessRole, Credentials, User
from engine.storage.postgres.database import Database, Executor

_COLUMNS = "id, org_id, username, email, full_name, role, is_active, created_at, updated_at"
_UPDATABLE = {"email", "full_name", "role", "is_active", "password_hash"}
_BOOTSTRAP_LOCK_KEY = 0x52754751  # advisory lock of the first start (migrations use ...50)


class UserStorage:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        org_id: UUID,
        *,
        username: str,
        email: str | None,
        full_name: str,
        password_hash: str,
        role: AccessRole,
        conn: Executor | None = None,
    ) -> User:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"""INSERT INTO users (org_id, username, email, full_name, password_hash, role)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}""",
            org_id,
            username,
            email,
            full_name,
            password_hash,
            role.value,
        )
        return User.from_row(row)

    async def get(
        self, org_id: UUID, user_id: UUID, *, conn: Executor | None = None
    ) -> User | None:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"SELECT {_COLUMNS} FROM users WHERE org_id = $1 AND id = $2 AND NOT is_deleted",
            org_id,
            user_id,
        )
        return User.from_row(row) if row else None

    async def get_active_for_token(self, org_id: UUID, user_id: UUID) -> User | None:
        """The user behind a token, only while both the user and the organization are active."""
        row = await self.db.tenant(org_id).fetchrow(
            f"""SELECT {", ".join("u." + c for c in _COLUMNS.split(", "))}
                FROM users u JOIN organizations o ON o.id = u.org_id
                WHERE u.org_id = $1 AND u.id = $2 AND u.is_active AND NOT u.is_deleted
                  AND o.is_active AND NOT o.is_deleted""",
            org_id,
            user_id,
        )
        return User.from_row(row) if row else None

    async def get_by_username(
        self, org_id: UUID, username: str, *, conn: Executor | None = None
    ) -> User | None:
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"SELECT {_COLUMNS} FROM users "
            "WHERE org_id = $1 AND lower(username) = lower($2) AND NOT is_deleted",
            org_id,
            username,
        )
        return User.from_row(row) if row else None

    async def get_many(self, org_id: UUID, user_ids: list[UUID]) -> list[User]:
        rows = await self.db.tenant(org_id).fetch(
            f"SELECT {_COLUMNS} FROM users WHERE org_id = $1 AND id = ANY($2::uuid[])",
            org_id,
            user_ids,
        )
        return [User.from_row(r) for r in rows]

    async def find_by_usernames(self, org_id: UUID, usernames: list[str]) -> list[User]:
        if not usernames:  # no round trip for a message that mentions nobody
            return []
        rows = await self.db.tenant(org_id).fetch(
            f"SELECT {_COLUMNS} FROM users WHERE org_id = $1 AND NOT is_deleted AND is_active "
            "AND lower(username) = ANY($2::text[])",
            org_id,
            [u.lower() for u in usernames],
        )
        return [User.from_row(r) for r in rows]

    async def find_active_by_ids(
        self, org_id: UUID, user_ids: list[UUID], *, conn: Executor | None = None
    ) -> list[User]:
        rows = await (conn or self.db.tenant(org_id)).fetch(
            f"SELECT {_COLUMNS} FROM users WHERE org_id = $1 AND NOT is_deleted AND is_active "
            "AND id = ANY($2::uuid[])",
            org_id,
            user_ids,
        )
        return [User.from_row(r) for r in rows]

    async def find_credentials(
        self, login: str, org_slug: str | None, *, limit: int
    ) -> list[Credentials]:
        """Accounts whose username or email is `login`, optionally within one organization."""
        rows = await self.db.system("login").fetch(
            f"""SELECT {", ".join("u." + c for c in _COLUMNS.split(", "))}, u.password_hash,
                       (o.is_active AND NOT o.is_deleted) AS org_active
                FROM users u JOIN organizations o ON o.id = u.org_id
                WHERE NOT u.is_deleted AND NOT o.is_deleted
                  AND (lower(u.username) = lower($1) OR lower(u.email) = lower($1))
                  AND ($2::text IS NULL OR lower(o.slug) = lower($2))
                ORDER BY u.created_at LIMIT $3""",
            login,
            org_slug,
            limit,
        )
        return [Credentials(User.from_row(r), r["password_hash"], r["org_active"]) for r in rows]

    async def get_password_hash(self, org_id: UUID, user_id: UUID) -> str | None:
        return await self.db.tenant(org_id).fetchval(
            "SELECT password_hash FROM users WHERE org_id = $1 AND id = $2 AND NOT is_deleted",
            org_id,
            user_id,
        )

    async def list_page(
        self,
        org_id: UUID,
        *,
        limit: int,
        offset: int,
        include_inactive: bool,
        search: str | None = None,
    ) -> list[User]:
        rows = await self.db.tenant(org_id).fetch(
            f"""SELECT {_COLUMNS} FROM users
                WHERE org_id = $1 AND NOT is_deleted AND ($4 OR is_active)
                  AND ($5::text IS NULL OR username ILIKE '%' || $5 || '%'
                       OR full_name ILIKE '%' || $5 || '%')
                ORDER BY lower(username) LIMIT $2 OFFSET $3""",
            org_id,
            limit,
            offset,
            include_inactive,
            search,
        )
        return [User.from_row(r) for r in rows]

    async def update(
        self, org_id: UUID, user_id: UUID, changes: dict[str, Any], *, conn: Executor | None = None
    ) -> User | None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if not changes:
            return await self.get(org_id, user_id, conn=conn)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=3))
        row = await (conn or self.db.tenant(org_id)).fetchrow(
            f"UPDATE users SET {assignments}, updated_at = now() "
            f"WHERE org_id = $1 AND id = $2 AND NOT is_deleted RETURNING {_COLUMNS}",
            org_id,
            user_id,
            *[c.value if isinstance(c, AccessRole) else c for c in changes.values()],
        )
        return User.from_row(row) if row else None

    async def soft_delete(
        self, org_id: UUID, user_id: UUID, *, conn: Executor | None = None
    ) -> bool:
        status = await (conn or self.db.tenant(org_id)).execute(
            "UPDATE users SET is_deleted = true, is_active = false, updated_at = now() "
            "WHERE org_id = $1 AND id = $2 AND NOT is_deleted",
            org_id,
            user_id,
        )
        return status.endswith(" 1")

    async def get_system_admin(self) -> User | None:
        row = await self.db.system("bootstrap").fetchrow(
            f"SELECT {_COLUMNS} FROM users WHERE role = 'system_admin' AND NOT is_deleted "
            "AND is_active ORDER BY created_at LIMIT 1"
        )
        return User.from_row(row) if row else None

    async def lock_bootstrap(self, conn: Executor) -> None:
        """Hold the bootstrap's advisory lock until `conn`'s transaction ends."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _BOOTSTRAP_LOCK_KEY)

    async def exists_system_admin(self, *, conn: Executor | None = None) -> bool:
        return bool(
            await (conn or self.db.system("bootstrap")).fetchval(
                "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'system_admin' AND NOT is_deleted)"
            )
        )
