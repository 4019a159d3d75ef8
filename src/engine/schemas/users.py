from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import EmailStr, model_validator

from engine.schemas.base import ReadModel, WriteModel
from engine.schemas.common import NewPassword, ShortText, Username


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


class _PartialUpdate(WriteModel):
    """Fields left out stay as they are; only `email` may be cleared with null."""

    @model_validator(mode="after")
    def _no_null_for_required(self) -> _PartialUpdate:
        nulled = [
            name
            for name in self.model_fields_set
            if getattr(self, name) is None and name != "email"
        ]
        if nulled:
            raise ValueError(f"must not be null: {', '.join(sorted(nulled))}")
        return self


class UserUpdateIn(_PartialUpdate):
    email: EmailStr | None = None
    full_name: ShortText | None = None
    role: Literal["admin", "user"] | None = None
    is_active: bool | None = None


class ProfileUpdateIn(_PartialUpdate):
    email: EmailStr | None = None
    full_name: ShortText | None = None


class PasswordResetIn(WriteModel):
    new_password: NewPassword
