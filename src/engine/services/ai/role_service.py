from __future__ import annotations

from engine.agents.prompt_cache import PromptCache
from engine.errors import NotFound
from engine.models.role import Role
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.identity.access import require_org_admin
from engine.storage.roles import RoleStorage


class RoleService:
    def __init__(self, roles: RoleStorage, prompts: PromptCache, audit: AuditTrail) -> None:
        self.audit = audit
        self.roles = roles
        self.prompts = prompts

    async def list_visible(self, actor: User) -> list[Role]:
        return await self.roles.list_active(actor.org_id)

    async def get(self, actor: User, code: str) -> Role:
        role = await self.roles.get(actor.org_id, code)
        if role is None:
            raise NotFound("role not found")
        return role

    def prompt_for(self, role: Role) -> str:
        return self.prompts.get(role.prompt_file)

    async def clear_prompt_cache(self, actor: User) -> int:
        require_org_admin(actor)
        cleared = self.prompts.clear()
        await self.audit.record_alone(
            org_id=actor.org_id,
            actor=actor,
            action="prompts.cache_cleared",
            details={"cleared": cleared},
        )
        return cleared
