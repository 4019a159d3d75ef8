from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import EmailStr
from pydantic.json_schema import SkipJsonSchema

from engine.schemas.base import ReadModel, WriteModel
from engine.schemas.common import NewPassword, NotNull, ShortText, Username


class UserOut(ReadModel):
    id: UUID
    org_id: UUID
    username: str
    email: str | None
    full_name: str
    role: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class UserCreateIn(WriteModel):
    username: Username
    password: NewPassword
    email: EmailStr | None = None
    full_name: ShortText = ""
    role: Literal["admin", "user"] = "user"


class UserUpdateIn(WriteModel):
    """Only the fields sent change; `email: null` clears the email, the others take no null."""

    email: EmailStr | None = None
    full_name: Annotated[ShortText | SkipJsonSchema[None], NotNull] = None
    role: Annotated[Literal["admin", "user"] | SkipJsonSchema[None], NotNull] = None
    is_active: Annotated[bool | SkipJsonSchema[None], NotNull] = None


class ProfileUpdateIn(WriteModel):
    email: EmailStr | None = None
    full_name: Annotated[ShortText | SkipJsonSchema[None], NotNull] = None


class PasswordResetIn(WriteModel):
    new_password: NewPassword
