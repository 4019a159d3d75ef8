from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg

from engine.errors import Conflict, NotFound
from engine.models.access import Revocation, RevocationReason
from engine.models.organization import Organization
from engine.models.user import AccessRole, User
from engine.services.identity.access import require_system_admin
from engine.services.identity.user_service import NewUser, UserService
from engine.storage.organizations import OrganizationStorage
from engine.storage.postgres.database import Database, Executor
from engine.storage.roles import RoleStorage

log = logging.getLogger(__name__)

SYSTEM_ORG_SLUG = "system"


class OrganizationService:
    def __init__(
        self,
        db: Database,
        organizations: OrganizationStorage,
        roles: RoleStorage,
        user_service: UserService,
    ) -> None:
        self.db = db
        self.organizations = organizations
        self.roles = roles
        self.user_service = user_service
        # ends the organization's live streams (set by the engine: the chat bus)
        self.on_revoked: Callable[[Revocation], None] | None = None

    def _revoke_all(self, org_id: UUID) -> None:
        if self.on_revoked is not None:
            self.on_revoked(Revocation(RevocationReason.ORG_DEACTIVATED, org_id))

    async def create(
        self, actor: User, *, slug: str, name: str, admin: NewUser | None
    ) -> tuple[Organization, User | None]:
        require_system_admin(actor)
        admin_hash = await self.user_service.hash_new_password(admin.password) if admin else None
        try:
            async with self.db.system("organization admin").transaction() as conn:
                org = await self.organizations.create(slug, name, conn=conn)
                await self.roles.seed_from_templates(org.id, conn=conn)
                first_admin = None
                if admin is not None and admin_hash is not None:
                    first_admin = await self.user_service.insert_user(
                        org.id, admin, role=AccessRole.ADMIN, password_hash=admin_hash, conn=conn
                    )
                await self._audit(
                    conn,
                    actor,
                    org.id,
                    "organization.created",
                    {"slug": org.slug, "name": org.name},
                )
                if first_admin is not None:
                    await self.user_service.audit.record(
                        conn,
                        org_id=org.id,
                        actor=actor,
                        action="user.created",
                        target_type="user",
                        target_id=first_admin.id,
                        details={"username": first_admin.username, "role": "admin"},
                    )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"organization '{slug}' already exists") from exc
        log.info("organization %s (%s) created by %s", org.slug, org.id, actor.id)
        return org, first_admin

    async def get(self, actor: User, org_id: UUID) -> Organization:
        if not actor.is_system_admin and org_id != actor.org_id:
            raise NotFound("organization not found")
        org = await self.organizations.get(org_id)
        if org is None:
            raise NotFound("organization not found")
        return org

    async def list_visible(self, actor: User, *, limit: int, offset: int) -> list[Organization]:
        only = None if actor.is_system_admin else actor.org_id
        return await self.organizations.list_page(limit=limit, offset=offset, only_id=only)

    async def update(
        self, actor: User, org_id: UUID, *, name: str | None, is_active: bool | None
    ) -> Organization:
        await self.get(actor, org_id)
        if not actor.is_system_admin:
            if is_active is not None or not actor.is_org_admin:
                require_system_admin(actor)
        async with self.db.tenant(org_id).transaction() as conn:
            org = await self.organizations.update(org_id, name=name, is_active=is_active, conn=conn)
            if org is None:
                raise NotFound("organization not found")
            changed = {"name": name, "is_active": is_active}
            await self._audit(
                conn,
                actor,
                org_id,
                "organization.updated",
                {k: v for k, v in changed.items() if v is not None},
            )
        if is_active is False:
            self._revoke_all(org_id)
        return org

    async def delete(self, actor: User, org_id: UUID) -> None:
        await self.get(actor, org_id)
        require_system_admin(actor)
        async with self.db.tenant(org_id).transaction() as conn:
            if not await self.organizations.soft_delete(org_id, conn=conn):
                raise NotFound("organization not found")
            await self._audit(conn, actor, org_id, "organization.deleted", {})
        self._revoke_all(org_id)

    async def _audit(
        self, conn: Executor, actor: User, org_id: UUID, action: str, details: dict[str, Any]
    ) -> None:
        await self.user_service.audit.record(
            conn,
            org_id=org_id,
            actor=actor,
            action=action,
            target_type="organization",
            target_id=org_id,
            details=details,
        )

    async def bootstrap_system_admin(self, username: str, email: str, password: str) -> bool:
        """Create the system organization and its administrator once; False if already there.

        Several processes may start together on an empty database: a transaction-level
        advisory lock lets one create them while the others wait, then find them there.
        """
        users = self.user_service.users
        if await users.exists_system_admin():
            return False
        password_hash = await self.user_service.hash_new_password(password)
        async with self.db.system("bootstrap").transaction() as conn:
            await users.lock_bootstrap(conn)
            if await users.exists_system_admin(conn=conn):
                return False
            system_org = await self.organizations.get_system(conn=conn)
            if system_org is None:
                system_org = await self.organizations.create(
                    SYSTEM_ORG_SLUG, "Система", is_system=True, conn=conn
                )
            admin = await self.user_service.insert_user(
                system_org.id,
                NewUser(
                    username=username,
                    email=email,
                    full_name="Системный администратор",
                    password=password,
                ),
                role=AccessRole.SYSTEM_ADMIN,
                password_hash=password_hash,
                conn=conn,
            )
            await self.user_service.audit.record(
                conn,
                org_id=system_org.id,
                actor=None,
                action="user.created",
                target_type="user",
                target_id=admin.id,
                details={"username": username, "role": AccessRole.SYSTEM_ADMIN.value},
            )
        log.info("system administrator %r created", username)
        return True
