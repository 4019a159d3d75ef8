"""An engine SIGKILLed while it sends a notification: another engine takes the send over
within the notification lease, and not before.

Real OS processes (uvicorn) on a database of their own, with a 3 s lease renewed every
second. The mail server holds the message at DATA (a slow server): while the first engine
lives, its heartbeat keeps the lease, so the second engine, dispatching all along, never
takes the notification although the send lasts several leases. Once the first engine is
killed its lease runs out and the second engine sends the notification, once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.fakes import FakeSMTP
from tests.fakes.waiting import wait_for
from tests.support.api import Api
from tests.support.database import create_database, drop_database
from tests.support.engine_process import EngineProcess, engine_env
from tests.support.figures import record

pytestmark = pytest.mark.slow

LEASE = 3.0
DISPATCH_INTERVAL = 0.2


@pytest.fixture
async def own_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_notify_kill")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


async def _notification(dsn: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT status, attempts, lease_until FROM notifications")
    finally:
        await conn.close()
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


async def test_a_killed_sender_is_taken_over_within_the_lease(
    own_database: str, fake_smtp: FakeSMTP, tmp_path: Path
) -> None:
    env = engine_env(
        own_database,
        "http://127.0.0.1:9",
        SCHEDULER_ENABLED="true",
        SCHEDULER_INTERVAL_SECONDS="0.2",
        NOTIFICATION_DISPATCH_INTERVAL_SECONDS=str(DISPATCH_INTERVAL),
        NOTIFICATION_LEASE_SECONDS=str(LEASE),
        SMTP_HOST=fake_smtp.host,
        SMTP_PORT=str(fake_smtp.port),
        SMTP_SECURITY="none",
        SMTP_TIMEOUT_SECONDS="60",  # the held send outlasts several leases
    )
    fake_smtp.hold()
    sender = EngineProcess(env, tmp_path, "sender")
    survivor = EngineProcess(env, tmp_path, "survivor")
    await sender.start()
    try:
        async with httpx.AsyncClient(base_url=sender.base_url, timeout=10) as client:
            api = Api(client, SYSTEM_ADMIN_PASSWORD)
            org = await api.create_org(members=1)
            owner = org.members[0]
            channel = await client.post(
                "/api/v1/notifications/channels",
                headers=owner.headers,
                json={"type": "email", "address": "owner@example.com"},
            )
            assert channel.status_code == 201, channel.text
            created = await client.post(
                "/api/v1/calendar/events",
                headers=owner.headers,
                json={
                    "title": "Сдать отчёт",
                    "starts_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                    "remind_before_minutes": 60,  # the reminder is due right away
                },
            )
            assert created.status_code == 201, created.text
        # the reminder's mail is being sent by the only engine running
        await wait_for(lambda: fake_smtp.held == 1, timeout=60, message="the send to start")
        await survivor.start()
        first = await _notification(own_database)
        assert first["status"] == "sending" and first["attempts"] == 1

        async def renewed_twice_and_never_taken() -> bool:
            now = await _notification(own_database)
            assert now["status"] == "sending" and now["attempts"] == 1, dict(now)
            assert fake_smtp.held == 1  # the survivor, dispatching, has not taken it
            return bool(now["lease_until"] >= first["lease_until"] + timedelta(seconds=2 * LEASE))

        await wait_for(renewed_twice_and_never_taken, timeout=60, interval=0.1)
    finally:
        await sender.kill()
    killed_at = time.monotonic()
    fake_smtp.release()  # the killed sender's connection is gone; its message is dropped
    try:
        await wait_for(lambda: fake_smtp.messages, timeout=30, interval=0.05)
        taken_over_after = time.monotonic() - killed_at
        await wait_for(lambda: _sent(own_database), timeout=30, interval=0.1, message="status sent")
    finally:
        await survivor.stop()
    assert [m.to for m in fake_smtp.messages] == [["owner@example.com"]]
    assert fake_smtp.messages[0].subject == "Календарь: Сдать отчёт"
    final = await _notification(own_database)
    assert final["status"] == "sent" and final["attempts"] == 2
    # the lease had up to LEASE left at the kill; then one dispatch pass and the send
    assert taken_over_after < LEASE + 3.0, taken_over_after
    record(
        "faults: engine SIGKILLed while sending a notification",
        lease_seconds=LEASE,
        taken_over_after_seconds=round(taken_over_after, 2),
        mails=len(fake_smtp.messages),
        attempts=final["attempts"],
    )


async def _sent(dsn: str) -> bool:
    row = await _notification(dsn)
    return bool(row and row["status"] == "sent")
