from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Organization:
    id: UUID
    slug: str
    name: str
    is_system: bool
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Organization:
        return cls(
            id=row["id"],
            slug=row["slug"],
            name=row["name"],
            is_system=row["is_system"],
            is_active=row["is_active"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
