"""JWT issue and decode: HS256 pinned, `exp/iat/sub/aud` required, `typ` separates kinds."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt

from engine.config import Settings
from engine.errors import Unauthorized
from engine.models.auth import TokenClaims
from engine.models.user import AccessRole

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
VERIFIED_CACHE_SIZE = 4096


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenCodec:
    def __init__(self, settings: Settings) -> None:
        self.key = settings.jwt_key
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.access_ttl = settings.access_token_ttl_seconds
        self.refresh_ttl = settings.refresh_token_ttl_seconds
        # Access tokens already verified, by their exact text. A client sends the same token
        # on every request for its whole lifetime; checking the signature and claims again
        # each time was a measurable part of every request (see bench/README.md). It holds no
        # account state: `AuthService.authenticate_session` reads whether the user and the
        # organization are active on every request, so a deactivation on any process counts.
        self._verified: dict[str, TokenClaims] = {}

    def issue(
        self,
        *,
        user_id: UUID,
        org_id: UUID,
        role: AccessRole,
        token_type: str,
        jti: str | None = None,
        session_id: UUID | None = None,
        now: datetime | None = None,
    ) -> tuple[str, datetime]:
        issued = now or datetime.now(UTC)
        ttl = self.access_ttl if token_type == ACCESS else self.refresh_ttl
        expires = issued + timedelta(seconds=ttl)
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "org": str(org_id),
            "role": role.value,
            "typ": token_type,
            "jti": jti or secrets.token_hex(16),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
        }
        if session_id is not None:
            payload["sid"] = str(session_id)
        return jwt.encode(payload, self.key, algorithm=ALGORITHM), expires

    def decode(self, token: str, *, expected_type: str) -> TokenClaims:
        """Verify `token` and return its claims; Unauthorized if it is not acceptable.

        Access tokens that passed once are remembered until they expire: the signature and
        every claim but `exp` are fixed by the token's text, and `exp` is checked on each
        use, so the answer is the same as a full decode's.
        """
        if expected_type != ACCESS:
            return self._decode(token, expected_type=expected_type)
        claims = self._verified.get(token)
        if claims is not None:
            if time.time() < claims.expires_at.timestamp():
                return claims
            del self._verified[token]  # expired: the full decode below says so
        claims = self._decode(token, expected_type=ACCESS)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[token] = claims
        return claims

    def _decode(self, token: str, *, expected_type: str) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss", "typ", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token") from exc
        if payload.get("typ") != expected_type:
            raise Unauthorized("invalid token type")
        try:
            return TokenClaims(
                user_id=UUID(str(payload["sub"])),
                org_id=UUID(str(payload["org"])),
                role=AccessRole(payload["role"]),
                token_type=payload["typ"],
                jti=str(payload["jti"]),
                issued_at=datetime.fromtimestamp(payload["iat"], UTC),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
                session_id=UUID(str(payload["sid"])) if "sid" in payload else None,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("invalid token") from exc
