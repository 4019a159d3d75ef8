from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, status

from engine.routes.deps import CurrentUser, Engine, client_ip
from engine.schemas.auth import LoginIn, LoginOut, PasswordChangeIn, RefreshIn, TokenOut
from engine.schemas.users import UserOut

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginOut)
async def login(body: LoginIn, request: Request, engine: Engine) -> LoginOut:
    user, tokens = await engine.auth.login(
        body.login, body.password, organization=body.organization, client_ip=client_ip(request)
    )
    return LoginOut(**asdict(tokens), user=UserOut.model_validate(user))


@router.post("/refresh", response_model=TokenOut)
async def refresh(body: RefreshIn, engine: Engine) -> TokenOut:
    tokens = await engine.auth.refresh(body.refresh_token)
    return TokenOut(**asdict(tokens))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshIn, engine: Engine) -> None:
    await engine.auth.logout(body.refresh_token)


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(body: PasswordChangeIn, user: CurrentUser, engine: Engine) -> None:
    await engine.users.change_own_password(user, body.current_password, body.new_password)
