from __future__ import annotations

from pydantic import BaseModel, Field

from engine.schemas.base import WriteModel
from engine.schemas.common import LoginPassword, NewPassword, NoNul
from engine.schemas.users import UserOut


class LoginIn(WriteModel):
    login: NoNul = Field(min_length=1, max_length=254, description="username or email")
    password: LoginPassword
    organization: NoNul | None = Field(
        None,
        max_length=64,
        description="organization slug; needed only when the login is ambiguous",
    )


class RefreshIn(WriteModel):
    refresh_token: NoNul = Field(min_length=1, max_length=4096)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_expires_in: int


class LoginOut(TokenOut):
    user: UserOut


class PasswordChangeIn(WriteModel):
    current_password: LoginPassword
    new_password: NewPassword
