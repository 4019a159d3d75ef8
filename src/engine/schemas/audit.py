"""The audit trail as the API returns it: entries in the model's own shape, said once."""

from __future__ import annotations

from pydantic import BaseModel

from engine.models.audit import AuditEntry


class AuditPageOut(BaseModel):
    items: list[AuditEntry]
    next_before_id: int | None
