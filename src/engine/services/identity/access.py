"""Permission checks shared by services."""

from __future__ import annotations

from engine.errors import Forbidden
from engine.models.user import User


def require_org_admin(actor: User) -> None:
    if not actor.is_org_admin:
        raise Forbidden("administrator rights required")


def require_system_admin(actor: User) -> None:
    if not actor.is_system_admin:
        raise Forbidden("system administrator rights required")
