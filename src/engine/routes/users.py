from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from engine.models.user import AccessRole
from engine.routes.deps import CurrentUser, Engine, PageParams
from engine.schemas.users import (
    PasswordResetIn,
    ProfileUpdateIn,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
)
from engine.services.identity.user_service import NewUser

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreateIn, user: CurrentUser, engine: Engine) -> UserOut:
    created = await engine.users.create(
        user,
        NewUser(
            username=body.username,
            password=body.password,
            email=body.email,
            full_name=body.full_name,
            role=AccessRole(body.role),
        ),
    )
    return UserOut.model_validate(created)


@router.get("", response_model=list[UserOut])
async def list_users(
    user: CurrentUser,
    engine: Engine,
    page: PageParams,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> list[UserOut]:
    users = await engine.users.list_visible(user, limit=page.limit, offset=page.offset, search=q)
    return [UserOut.model_validate(u) for u in users]


@router.get("/me", response_model=UserOut)
async def get_me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.patch("/me", response_model=UserOut)
async def update_me(body: ProfileUpdateIn, user: CurrentUser, engine: Engine) -> UserOut:
    changes = body.model_dump(exclude_unset=True)
    return UserOut.model_validate(await engine.users.update(user, user.id, changes))


@router.get("/{user_id}", response_model=UserOut)
async def get_user(user_id: UUID, user: CurrentUser, engine: Engine) -> UserOut:
    return UserOut.model_validate(await engine.users.get(user, user_id))


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: UUID, body: UserUpdateIn, user: CurrentUser, engine: Engine
) -> UserOut:
    changes = body.model_dump(exclude_unset=True)
    return UserOut.model_validate(await engine.users.update(user, user_id, changes))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: UUID, user: CurrentUser, engine: Engine) -> None:
    await engine.users.delete(user, user_id)


@router.post("/{user_id}/deactivate", response_model=UserOut)
async def deactivate_user(user_id: UUID, user: CurrentUser, engine: Engine) -> UserOut:
    return UserOut.model_validate(await engine.users.update(user, user_id, {"is_active": False}))


@router.post("/{user_id}/activate", response_model=UserOut)
async def activate_user(user_id: UUID, user: CurrentUser, engine: Engine) -> UserOut:
    return UserOut.model_validate(await engine.users.update(user, user_id, {"is_active": True}))


@router.post("/{user_id}/reset-password", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    user_id: UUID, body: PasswordResetIn, user: CurrentUser, engine: Engine
) -> None:
    await engine.users.reset_password(user, user_id, body.new_password)
