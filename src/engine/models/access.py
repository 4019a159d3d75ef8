"""Access taken away from a user while they may hold live event streams."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class RevocationReason(StrEnum):
    MEMBER_REMOVED = "member_removed"
    USER_DEACTIVATED = "user_deactivated"
    ORG_DEACTIVATED = "org_deactivated"
    PASSWORD_RESET = "password_reset"
    LOGGED_OUT = "logged_out"
    TOKEN_EXPIRED = "token_expired"


@dataclass(frozen=True, slots=True)
class Revocation:
    """Which streams lose access: every stream matching all the fields that are set.

    A stream belongs to one organization, user, chat and session (the refresh-token family
    its access token was issued in); an unset field matches any.
    """

    reason: RevocationReason
    org_id: UUID
    user_id: UUID | None = None
    chat_id: UUID | None = None
    session_id: UUID | None = None
