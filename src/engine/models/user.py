from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class AccessRole(StrEnum):
    """What a person may do; not to be confused with AI roles (`Role`)."""

    SYSTEM_ADMIN = "system_admin"
    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    org_id: UUID
    username: str
    email: str | None
    full_name: str
    role: AccessRole
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_org_admin(self) -> bool:
        return self.role in (AccessRole.ADMIN, AccessRole.SYSTEM_ADMIN)

    @property
    def is_system_admin(self) -> bool:
        return self.role is AccessRole.SYSTEM_ADMIN

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            username=row["username"],
            email=row["email"],
            full_name=row["full_name"],
            role=AccessRole(row["role"]),
            is_active=row["is_active"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user together with the password hash; never leaves the auth service."""

    user: User
    password_hash: str
    org_active: bool
