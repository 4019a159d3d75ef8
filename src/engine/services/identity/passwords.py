"""bcrypt hashing off the event loop; bcrypt only reads 72 bytes, so longer ones are refused."""

from __future__ import annotations

import asyncio

import bcrypt

MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 8


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return f"password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8"
    if "\x00" in password:
        return "password must not contain NUL characters"
    return None


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash = bcrypt.hashpw(b"dummy-password", bcrypt.gensalt(rounds)).decode()

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self.rounds)
        digest = await asyncio.to_thread(bcrypt.hashpw, password.encode("utf-8"), salt)
        return digest.decode()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant-shape check: an unknown account still costs one bcrypt round."""
        candidate = password.encode("utf-8")
        if len(candidate) > MAX_PASSWORD_BYTES or "\x00" in password:
            return False
        target = (password_hash or self._dummy_hash).encode()
        try:
            ok = await asyncio.to_thread(bcrypt.checkpw, candidate, target)
        except ValueError:
            return False
        return ok and password_hash is not None
