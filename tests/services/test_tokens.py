"""Access tokens: a verified token is remembered, and still refused once it expires."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.errors import Unauthorized
from engine.models.user import AccessRole
from engine.services.identity import tokens
from engine.services.identity.tokens import ACCESS, REFRESH, TokenCodec


@pytest.fixture
def codec(make_settings: Any) -> TokenCodec:
    return TokenCodec(make_settings())


def issue(codec: TokenCodec, **kwargs: Any) -> str:
    token, _ = codec.issue(
        user_id=uuid.uuid4(), org_id=uuid.uuid4(), role=list(AccessRole)[0], **kwargs
    )
    return token


def test_verified_access_token_is_reused_not_verified_again(
    codec: TokenCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issue(codec, token_type=ACCESS)
    first = codec.decode(token, expected_type=ACCESS)
    monkeypatch.setattr(tokens.jwt, "decode", lambda *a, **k: pytest.fail("verified again"))
    assert codec.decode(token, expected_type=ACCESS) is first


def test_remembered_token_is_refused_once_expired(
    codec: TokenCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = datetime.now(UTC) - timedelta(seconds=codec.access_ttl - 1)
    token = issue(codec, token_type=ACCESS, now=issued)
    codec.decode(token, expected_type=ACCESS)
    real_time = time.time
    monkeypatch.setattr(tokens.time, "time", lambda: real_time() + 5)
    monkeypatch.setattr(tokens.jwt.api_jwt, "datetime", _shifted_datetime(5))
    with pytest.raises(Unauthorized, match="expired"):
        codec.decode(token, expected_type=ACCESS)


def test_refused_and_refresh_tokens_are_not_remembered(codec: TokenCodec) -> None:
    refresh = issue(codec, token_type=REFRESH, jti="r1")
    with pytest.raises(Unauthorized, match="type"):
        codec.decode(refresh, expected_type=ACCESS)
    codec.decode(refresh, expected_type=REFRESH)
    tampered = issue(codec, token_type=ACCESS)[:-2] + "xx"
    with pytest.raises(Unauthorized):
        codec.decode(tampered, expected_type=ACCESS)
    assert codec._verified == {}


def test_the_cache_is_bounded(codec: TokenCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 3)
    issued = [issue(codec, token_type=ACCESS) for _ in range(5)]
    for token in issued:
        codec.decode(token, expected_type=ACCESS)
    assert list(codec._verified) == issued[-3:]


def _shifted_datetime(seconds: float) -> type[datetime]:
    class Shifted(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=seconds)

    return Shifted
