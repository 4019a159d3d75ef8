from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from engine.routes.deps import CurrentUser, Engine
from engine.schemas.roles import CacheClearedOut, RoleDetailOut, RoleOut

router = APIRouter(prefix="/roles", tags=["roles"])

RoleCode = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9_\-]+$")]


@router.get("", response_model=list[RoleOut])
async def list_roles(user: CurrentUser, engine: Engine) -> list[RoleOut]:
    return [RoleOut.model_validate(r) for r in await engine.roles.list_visible(user)]


@router.post("/admin/cache/clear", response_model=CacheClearedOut)
async def clear_prompt_cache(user: CurrentUser, engine: Engine) -> CacheClearedOut:
    return CacheClearedOut(cleared=await engine.roles.clear_prompt_cache(user))


@router.get("/{code}", response_model=RoleDetailOut)
async def get_role(code: RoleCode, user: CurrentUser, engine: Engine) -> RoleDetailOut:
    role = await engine.roles.get(user, code)
    return RoleDetailOut(
        **RoleOut.model_validate(role).model_dump(),
        config=role.config,
        prompt=engine.roles.prompt_for(role),
    )
