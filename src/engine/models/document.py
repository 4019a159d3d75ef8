from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Document:
    id: UUID
    org_id: UUID
    title: str
    created_by: UUID
    created_at: datetime
    chunks: int = 0
    content: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentHit:
    document_id: UUID
    title: str
    ordinal: int
    snippet: str
    rank: float
