"""An engine on its own database, wired to loopback Telegram and SMTP servers.

The scheduler and the notification dispatcher work across organizations and tests move
their database clock, so their tests get a database of their own instead of the
session-wide one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from engine.config import Settings
from engine.models.calendar import AgentRunOutcome
from engine.services.engine import EngineService
from engine.storage.postgres.migrations import apply_migrations
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes import FakeSMTP, FakeTelegram
from tests.support.api import Account, Api
from tests.support.database import create_database, drop_database

TELEGRAM_TOKEN = "123456:calendar-test-token"
WEBHOOK_SECRET = "webhook-secret-for-tests"
BOT_USERNAME = "rugpt_test_bot"
WEBHOOK = "/api/v1/notifications/telegram/webhook"


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    api: Api
    settings: Settings

    @property
    def engine(self) -> EngineService:
        engine: EngineService = self.app.state.engine
        return engine

    def shift_clock(self, delta: timedelta) -> None:
        self.engine.clock.shift(delta)

    async def webhook(
        self, update: dict[str, Any] | bytes, secret: str | None = WEBHOOK_SECRET
    ) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        if isinstance(update, bytes):
            headers["content-type"] = "application/json"
            return await self.client.post(WEBHOOK, content=update, headers=headers)
        return await self.client.post(WEBHOOK, json=update, headers=headers)

    async def link_telegram(self, account: Account, chat_id: int, update_id: int) -> None:
        """Link a chat the way a person does: token from the API, then /start in Telegram."""
        token = await self.client.post(
            "/api/v1/notifications/telegram/link-token", headers=account.headers
        )
        assert token.status_code == 201, token.text
        response = await self.webhook(start_update(update_id, chat_id, token.json()["token"]))
        assert response.status_code == 200
        await self.engine.telegram.drain()

    async def add_email(self, account: Account, address: str, priority: int = 0) -> str:
        response = await self.client.post(
            "/api/v1/notifications/channels",
            headers=account.headers,
            json={"type": "email", "address": address, "priority": priority},
        )
        assert response.status_code == 201, response.text
        channel_id: str = response.json()["id"]
        return channel_id


def message_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test"},
            "text": text,
        },
    }


def start_update(update_id: int, chat_id: int, token: str) -> dict[str, Any]:
    return message_update(update_id, chat_id, f"/start {token}")


@dataclass
class ScriptedRunner:
    """A ProactiveAgentRunner that answers from a script and records its calls."""

    answer: str | None = "Ответ агента"
    error: str | None = None
    exception: Exception | None = None
    gate: asyncio.Event | None = None  # when set, each call waits for it
    calls: list[dict[str, Any]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(
        self,
        *,
        org_id: UUID,
        user_id: UUID,
        role_code: str,
        prompt: str,
        context: str,
        run_id: UUID | None = None,
    ) -> AgentRunOutcome:
        self.calls.append(
            {
                "org_id": org_id,
                "user_id": user_id,
                "role_code": role_code,
                "prompt": prompt,
                "context": context,
            }
        )
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.exception is not None:
            raise self.exception
        return AgentRunOutcome(self.answer, self.error)


@pytest.fixture(scope="session")
async def migrated_template(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A migrated database to clone: a copy takes milliseconds, migrating takes longer."""
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_template")
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    yield urlsplit(dsn).path.lstrip("/")
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture
async def isolated_database_url(pg_admin_dsn: str, migrated_template: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_iso", template=migrated_template)
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@pytest.fixture(scope="session")
async def telegram_server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TELEGRAM_TOKEN, bot_username=BOT_USERNAME) as fake:
        yield fake


@pytest.fixture(scope="session")
async def smtp_server() -> AsyncIterator[FakeSMTP]:
    async with FakeSMTP() as fake:
        yield fake


@pytest.fixture
async def fake_telegram(telegram_server: FakeTelegram) -> AsyncIterator[FakeTelegram]:
    """The session's fake Bot API, up and empty for this test."""
    if not telegram_server.is_up:
        await telegram_server.up()
    telegram_server.reset()
    yield telegram_server
    if not telegram_server.is_up:
        await telegram_server.up()
    telegram_server.reset()


@pytest.fixture
async def fake_smtp(smtp_server: FakeSMTP) -> AsyncIterator[FakeSMTP]:
    """The session's fake SMTP server, up and empty for this test."""
    if not smtp_server.is_up:
        await smtp_server.up()
    smtp_server.reset()
    yield smtp_server
    if not smtp_server.is_up:
        await smtp_server.up()
    smtp_server.reset()


@pytest.fixture
def stack_settings(
    make_settings: Callable[..., Settings],
    isolated_database_url: str,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
) -> Callable[..., Settings]:
    """Settings for an engine on the isolated database, wired to both fakes."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": isolated_database_url,
            "telegram_bot_token": TELEGRAM_TOKEN,
            "telegram_api_base_url": fake_telegram.base_url,
            "telegram_webhook_secret": WEBHOOK_SECRET,
            "telegram_bot_username": BOT_USERNAME,
            "telegram_timeout_seconds": 5,
            "smtp_host": fake_smtp.host,
            "smtp_port": fake_smtp.port,
            "smtp_security": "none",
            "smtp_from": "rugpt@example.com",
            "smtp_timeout_seconds": 5,
            "notification_backoff_base_seconds": 10,
            "scheduler_shutdown_grace_seconds": 2,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@asynccontextmanager
async def engine_stack(settings: Settings) -> AsyncIterator[Stack]:
    async with running_app(settings) as (app, client):
        yield Stack(app, client, Api(client, SYSTEM_ADMIN_PASSWORD), settings)


@pytest.fixture
async def stack(stack_settings: Callable[..., Settings]) -> AsyncIterator[Stack]:
    async with engine_stack(stack_settings()) as running:
        yield running
