from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field

from engine.schemas.base import WriteModel
from engine.schemas.common import ShortText, _no_nul

DocumentText = Annotated[str, Field(min_length=1, max_length=500_000), AfterValidator(_no_nul)]


class DocumentIn(WriteModel):
    title: ShortText = Field(min_length=1)
    content: DocumentText


class DocumentOut(BaseModel):
    id: UUID
    title: str
    created_by: UUID
    created_at: datetime
    chunks: int
    content: str | None = None
