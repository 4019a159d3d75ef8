"""Fixtures for tests that run the engine, nginx and the CLI as real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import SYSTEM_ADMIN_PASSWORD, TEST_JWT_SECRET
from tests.support.database import create_database, drop_database


@pytest.fixture
async def fresh_database_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    """An empty database of its own (no migrations applied), dropped afterwards."""
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_deploy")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


def engine_settings(database_url: str, workdir: Path, **overrides: object) -> dict[str, object]:
    """Settings of an engine process under test: test DB, no LLM, fast hashing, no scheduler."""
    settings: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "jwt_secret": TEST_JWT_SECRET,
        "admin_password": SYSTEM_ADMIN_PASSWORD,
        "bcrypt_rounds": 4,
        "llm_base_url": "http://127.0.0.1:9",
        "llm_health_timeout_seconds": 0.5,
        "scheduler_enabled": "false",
        "data_dir": workdir / "data",
    }
    settings.update(overrides)
    return settings
