from __future__ import annotations

from datetime import datetime
from uuid import UUID

from engine.schemas.base import ReadModel, WriteModel
from engine.schemas.common import ShortText, Slug
from engine.schemas.users import UserCreateIn, UserOut


class OrganizationOut(ReadModel):
    id: UUID
    slug: str
    name: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class FirstAdminIn(UserCreateIn):
    pass


class OrganizationCreateIn(WriteModel):
    slug: Slug
    name: ShortText
    admin: FirstAdminIn | None = None


class OrganizationCreatedOut(OrganizationOut):
    admin: UserOut | None = None


class OrganizationUpdateIn(WriteModel):
    name: ShortText | None = None
    is_active: bool | None = None
