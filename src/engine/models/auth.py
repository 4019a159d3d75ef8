from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from engine.models.user import AccessRole


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: UUID
    org_id: UUID
    role: AccessRole
    token_type: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    session_id: UUID | None = None  # the refresh-token family of a login (access tokens)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: UUID
    org_id: UUID
    user_id: UUID
    family_id: UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
