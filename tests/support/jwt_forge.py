"""Hand-made JWTs for attacks the codec must refuse."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt

from tests.conftest import TEST_JWT_SECRET


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(user_id: str, org_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": user_id,
        "org": org_id,
        "role": "admin",
        "typ": "access",
        "jti": "forged",
        "iss": "rugpt-engine",
        "aud": "rugpt-api",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def signed(payload: dict[str, Any], key: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def unsigned(payload: dict[str, Any], alg: str = "none", signature: bytes = b"") -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    return f"{header}.{body}.{_b64(signature)}"
