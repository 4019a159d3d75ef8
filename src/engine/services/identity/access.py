"""Permission checks shared by services, and the caller named by an access token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from engine.errors import Forbidden
from engine.models.user import User


class Caller:
    """The caller as their verified access token names them; the account not read yet.

    The busiest requests (posting a message, reading a page) need the account only to know
    it is active: their one statement checks that itself (with the membership), so they
    make one round trip instead of two. `user()` reads the account — Unauthorized when it
    or its organization is disabled — once, when such a statement refused (to say why) or
    when a path needs more than the ids.
    """

    __slots__ = ("org_id", "id", "_load", "_user")

    def __init__(
        self, org_id: UUID, user_id: UUID, load: Callable[[], Awaitable[User]] | None = None
    ) -> None:
        self.org_id = org_id
        self.id = user_id
        self._load = load
        self._user: User | None = None

    @classmethod
    def known(cls, user: User) -> Caller:
        """A caller whose account was already read (and found active)."""
        caller = cls(user.org_id, user.id)
        caller._user = user
        return caller

    async def user(self) -> User:
        if self._user is None:
            assert self._load is not None
            self._user = await self._load()
        return self._user


def require_org_admin(actor: User) -> None:
    if not actor.is_org_admin:
        raise Forbidden("administrator rights required")


def require_system_admin(actor: User) -> None:
    if not actor.is_system_admin:
        raise Forbidden("system administrator rights required")
