from __future__ import annotations

import pytest

from engine.config import Settings, SettingsError


def test_production_requires_jwt_secret() -> None:
    with pytest.raises((SettingsError, ValueError), match="JWT_SECRET is required"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]


def test_short_secret_is_refused() -> None:
    with pytest.raises((SettingsError, ValueError), match="at least 32 bytes"):
        Settings(_env_file=None, jwt_secret="short")  # type: ignore[call-arg]


def test_dev_generates_secret(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(_env_file=None, environment="dev")  # type: ignore[call-arg]
    assert len(settings.jwt_key) >= 32
    assert settings.uses_embedded_db


def test_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("DB_POOL_MAX", "7")
    monkeypatch.setenv("JWT_SECRET", "z" * 40)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.llm_provider == "openai" and settings.db_pool_max == 7
