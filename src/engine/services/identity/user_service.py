from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from engine.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from engine.models.access import Revocation, RevocationReason
from engine.models.user import AccessRole, User
from engine.services.audit_service import AuditTrail
from engine.services.identity.access import require_org_admin
from engine.services.identity.passwords import PasswordHasher, password_problem
from engine.storage.auth_tokens import RefreshTokenStorage
from engine.storage.postgres.database import Database, Executor
from engine.storage.users import UserStorage

log = logging.getLogger(__name__)

SELF_EDITABLE = {"full_name", "email"}
ADMIN_EDITABLE = {"full_name", "email", "role", "is_active"}


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    password: str
    email: str | None = None
    full_name: str = ""
    role: AccessRole = AccessRole.USER


class UserService:
    def __init__(
        self,
        db: Database,
        users: UserStorage,
        refresh_tokens: RefreshTokenStorage,
        hasher: PasswordHasher,
        audit: AuditTrail,
    ) -> None:
        self.db = db
        self.audit = audit
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.hasher = hasher
        # ends the user's live streams (set by the engine: the chat bus)
        self.on_revoked: Callable[[Revocation], None] | None = None

    def _revoke(self, reason: RevocationReason, org_id: UUID, user_id: UUID) -> None:
        if self.on_revoked is not None:
            self.on_revoked(Revocation(reason, org_id, user_id=user_id))

    async def hash_new_password(self, password: str) -> str:
        problem = password_problem(password)
        if problem:
            raise Unprocessable(problem)
        return await self.hasher.hash(password)

    async def insert_user(
        self,
        org_id: UUID,
        new: NewUser,
        *,
        role: AccessRole,
        password_hash: str,
        conn: Executor | None = None,
    ) -> User:
        try:
            return await self.users.create(
                org_id,
                username=new.username,
                email=new.email,
                full_name=new.full_name,
                password_hash=password_hash,
                role=role,
                conn=conn,
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("username or email already taken in this organization") from exc

    async def create(self, actor: User, new: NewUser) -> User:
        require_org_admin(actor)
        if new.role is AccessRole.SYSTEM_ADMIN:
            raise Forbidden("system administrators are created with `rugpt create-admin`")
        password_hash = await self.hash_new_password(new.password)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            user = await self.insert_user(
                actor.org_id, new, role=new.role, password_hash=password_hash, conn=conn
            )
            await self._audit(
                conn,
                actor,
                "user.created",
                user.id,
                {"username": user.username, "role": user.role.value},
            )
        log.info("user %s created in org %s by %s", user.id, actor.org_id, actor.id)
        return user

    async def get(self, actor: User, user_id: UUID) -> User:
        user = await self.users.get(actor.org_id, user_id)
        if user is None or (not user.is_active and not actor.is_org_admin):
            raise NotFound("user not found")
        return user

    async def list_visible(
        self, actor: User, *, limit: int, offset: int, search: str | None
    ) -> list[User]:
        return await self.users.list_page(
            actor.org_id,
            limit=limit,
            offset=offset,
            include_inactive=actor.is_org_admin,
            search=search,
        )

    async def update(self, actor: User, user_id: UUID, changes: dict[str, Any]) -> User:
        target = await self.get(actor, user_id)
        allowed = ADMIN_EDITABLE if actor.is_org_admin else SELF_EDITABLE
        if not actor.is_org_admin and target.id != actor.id:
            raise Forbidden("you may only edit your own profile")
        forbidden = set(changes) - allowed
        if forbidden:
            raise Forbidden(f"not allowed to change: {', '.join(sorted(forbidden))}")
        if "role" in changes:
            changes["role"] = AccessRole(changes["role"])
            if changes["role"] is AccessRole.SYSTEM_ADMIN or target.is_system_admin:
                raise Forbidden("system administrator role cannot be changed here")
        if target.id == actor.id and ("role" in changes or changes.get("is_active") is False):
            raise Forbidden("you cannot demote or deactivate yourself")
        try:
            async with self.db.tenant(actor.org_id).transaction() as conn:
                updated = await self.users.update(actor.org_id, user_id, changes, conn=conn)
                if updated is None:
                    raise NotFound("user not found")
                if changes.get("is_active") is False:
                    await self.refresh_tokens.revoke_user(actor.org_id, user_id, conn=conn)
                details: dict[str, Any] = {"fields": sorted(changes)}
                if "role" in changes and changes["role"] is not target.role:
                    details["role"] = {"from": target.role.value, "to": updated.role.value}
                if "is_active" in changes and changes["is_active"] != target.is_active:
                    details["is_active"] = updated.is_active
                await self._audit(conn, actor, "user.updated", user_id, details)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("email already taken in this organization") from exc
        if changes.get("is_active") is False:
            self._revoke(RevocationReason.USER_DEACTIVATED, actor.org_id, user_id)
        return updated

    async def delete(self, actor: User, user_id: UUID) -> None:
        target = await self.get(actor, user_id)
        require_org_admin(actor)
        if target.id == actor.id:
            raise Forbidden("you cannot delete yourself")
        async with self.db.tenant(actor.org_id).transaction() as conn:
            await self.users.soft_delete(actor.org_id, user_id, conn=conn)
            await self.refresh_tokens.revoke_user(actor.org_id, user_id, conn=conn)
            await self._audit(conn, actor, "user.deleted", user_id, {"username": target.username})
        self._revoke(RevocationReason.USER_DEACTIVATED, actor.org_id, user_id)

    async def reset_password(self, actor: User, user_id: UUID, new_password: str) -> None:
        await self.get(actor, user_id)
        require_org_admin(actor)
        password_hash = await self.hash_new_password(new_password)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            await self.users.update(
                actor.org_id, user_id, {"password_hash": password_hash}, conn=conn
            )
            await self.refresh_tokens.revoke_user(actor.org_id, user_id, conn=conn)
            await self._audit(conn, actor, "user.password_reset", user_id, {})
        self._revoke(RevocationReason.PASSWORD_RESET, actor.org_id, user_id)

    async def change_own_password(self, actor: User, current: str, new_password: str) -> None:
        stored = await self.users.get_password_hash(actor.org_id, actor.id)
        if not await self.hasher.verify(current, stored):
            raise Unauthorized("current password is wrong")
        password_hash = await self.hash_new_password(new_password)
        async with self.db.tenant(actor.org_id).transaction() as conn:
            await self.users.update(
                actor.org_id, actor.id, {"password_hash": password_hash}, conn=conn
            )
            await self.refresh_tokens.revoke_user(actor.org_id, actor.id, conn=conn)
            await self._audit(conn, actor, "user.password_changed", actor.id, {})
        self._revoke(RevocationReason.PASSWORD_RESET, actor.org_id, actor.id)

    async def _audit(
        self, conn: Executor, actor: User, action: str, user_id: UUID, details: dict[str, Any]
    ) -> None:
        await self.audit.record(
            conn,
            org_id=actor.org_id,
            actor=actor,
            action=action,
            target_type="user",
            target_id=user_id,
            details=details,
        )
