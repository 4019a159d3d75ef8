"""Suite-wide fixtures: one real PostgreSQL, one migrated database, the app over ASGI."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from engine.app import create_app
from engine.config import Settings
from tests.fakes.llm_server import ScriptedLLM
from tests.support.api import Api
from tests.support.database import create_database, drop_database, postgres_server

# isolated engines wired to loopback Telegram/SMTP (scheduler and notification tests)
pytest_plugins = ["tests.support.stack"]

SYSTEM_ADMIN_PASSWORD = "system-admin-password-1"
TEST_JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def database_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn)
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture(scope="session")
def make_settings(database_url: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "jwt_secret": TEST_JWT_SECRET,
            "bcrypt_rounds": 4,
            "admin_password": SYSTEM_ADMIN_PASSWORD,
            "llm_base_url": "http://127.0.0.1:9",
            "llm_health_timeout_seconds": 0.5,
            "login_max_failures_per_account": 1000,
            "login_max_failures_per_ip": 1000,
            "scheduler_enabled": False,
            "ai_recovery_enabled": False,
            "db_pool_min": 1,
            "db_pool_max": 5,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@asynccontextmanager
async def running_app(
    settings: Settings, client_ip: str = "127.0.0.1"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with its lifespan, reached over ASGI by an httpx client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            yield app, client


@pytest.fixture(scope="session")
async def app_and_client(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(make_settings()) as pair:
        yield pair


@pytest.fixture(scope="session")
def app(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return app_and_client[0]


@pytest.fixture(scope="session")
def client(app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_and_client[1]


@pytest.fixture(scope="session")
def api(client: httpx.AsyncClient) -> Api:
    return Api(client, SYSTEM_ADMIN_PASSWORD)


@pytest.fixture
def open_tmp_path() -> Iterator[Path]:
    """A temp folder the embedded PostgreSQL's own user can enter when tests run as root
    (pytest's `tmp_path` is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="rugpt-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """Undo handlers and level a test's `configure_logging` put on the root logger."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
async def session_llm() -> AsyncIterator[ScriptedLLM]:
    async with ScriptedLLM() as llm:
        yield llm


@pytest.fixture
def llm(session_llm: ScriptedLLM) -> ScriptedLLM:
    """The scripted LLM server, with no script left over from another test."""
    session_llm.reset()
    return session_llm


@pytest.fixture(scope="session")
async def ai_app_and_client(
    make_settings: Callable[..., Settings], session_llm: ScriptedLLM
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = make_settings(
        llm_base_url=session_llm.ollama_base_url,
        llm_timeout_seconds=5.0,
        llm_max_concurrency=4,
    )
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture(scope="session")
def ai_app(ai_app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return ai_app_and_client[0]


@pytest.fixture(scope="session")
def ai_api(ai_app_and_client: tuple[FastAPI, httpx.AsyncClient]) -> Api:
    return Api(ai_app_and_client[1], SYSTEM_ADMIN_PASSWORD)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.support.figures import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
