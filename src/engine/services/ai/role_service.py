from __future__ import annotations

from collections.abc import Callable

from engine.agents.prompt_cache import PromptCache
from engine.errors import NotFound
from engine.models.role import Role
from engine.models.user import User
from engine.services.audit_service import AuditTrail
from engine.services.identity.access import require_org_admin
from engine.storage.roles import RoleStorage

# What other processes are told when the prompt cache is cleared (the event relay's signal).
PROMPT_CACHE_CLEARED = "prompt_cache.cleared"


class RoleService:
    def __init__(self, roles: RoleStorage, prompts: PromptCache, audit: AuditTrail) -> None:
        self.audit = audit
        self.roles = roles
        self.prompts = prompts
        # set by the event relay: tells the other engine processes (see `EngineService.start`)
        self.broadcast: Callable[[str], None] | None = None

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
        if self.broadcast is not None:
            self.broadcast(PROMPT_CACHE_CLEARED)
        await self.audit.record_alone(
            org_id=actor.org_id,
            actor=actor,
            action="prompts.cache_cleared",
            details={"cleared": cleared},
        )
        return cleared
