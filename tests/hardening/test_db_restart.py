"""PostgreSQL restarted under the engine while clients keep posting messages.

A dedicated embedded PostgreSQL (never the suite's shared one) is stopped and started again
while the engine serves over real TCP. Every message acknowledged with 201 must be in the
database afterwards; requests during the outage get 503 (never 500); the engine recovers
without a restart, and so does its LISTEN/NOTIFY event relay.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from engine.app import create_app
from engine.config import Settings
from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.fakes._uvicorn import UvicornRunner
from tests.fakes.waiting import wait_for
from tests.support.api import Api, create_chat
from tests.support.database import create_database
from tests.support.figures import record
from tests.support.restartable_pg import RestartablePostgres

POSTERS = 10
OUTAGE_SECONDS = 3.0

pytestmark = pytest.mark.slow


@pytest.fixture
async def pg() -> AsyncIterator[RestartablePostgres]:
    server = await asyncio.to_thread(RestartablePostgres)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.close)


class Posters:
    def __init__(self, client: httpx.AsyncClient, chat_id: str, headers: list[dict[str, str]]):
        self.client = client
        self.chat_id = chat_id
        self.headers = headers
        self.acked: dict[int, str] = {}
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors: list[str] = []
        self.others: list[str] = []
        self.stopping = False

    async def run(self, index: int) -> None:
        n = 0
        while not self.stopping:
            n += 1
            content = f"poster-{index}-{n}"
            try:
                response = await self.client.post(
                    f"/api/v1/chats/{self.chat_id}/messages",
                    headers=self.headers[index % len(self.headers)],
                    json={"content": content},
                )
            except httpx.HTTPError as exc:
                self.errors.append(repr(exc))
                await asyncio.sleep(0.01)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code == 201:
                self.acked[response.json()["message"]["id"]] = content
            elif response.status_code == 503:
                assert response.headers.get("retry-after")
                await asyncio.sleep(0.01)  # a polite client backs off a little
            else:
                self.others.append(f"{response.status_code} {response.text[:200]}")


@pytest.mark.parametrize("mode", ["fast", "immediate"], ids=["restart", "crash"])
async def test_postgres_restart_while_posting(
    pg: RestartablePostgres, make_settings: Callable[..., Settings], mode: str
) -> None:
    """`fast` ends the sessions cleanly; `immediate` is a crash (recovery on start)."""
    database_url = await create_database(pg.admin_dsn)
    settings = make_settings(
        database_url=database_url, db_pool_min=2, db_pool_max=10, db_command_timeout=5
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        engine: Any = app.state.engine
        server = UvicornRunner(app)
        port = await server.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
                api = Api(client, SYSTEM_ADMIN_PASSWORD)
                org = await api.create_org(members=4)
                chat = await create_chat(client, org.admin, *org.members)
                posters = Posters(
                    client, chat["id"], [m.headers for m in (org.admin, *org.members)]
                )
                tasks = [asyncio.create_task(posters.run(i)) for i in range(POSTERS)]
                try:
                    await wait_for(lambda: len(posters.acked) >= 100, timeout=30)
                    assert engine.relay is not None and engine.relay.connected.is_set()
                    before = len(posters.acked)
                    down_at = time.monotonic()
                    await pg.stop(mode)
                    await wait_for(
                        lambda: (
                            posters.statuses[503] >= 50
                            and time.monotonic() - down_at >= OUTAGE_SECONDS
                        ),
                        timeout=30,
                    )
                    health = await client.get("/api/v1/health")
                    assert health.status_code == 503
                    await pg.start()
                    up_at = time.monotonic()
                    acked_at_restart = len(posters.acked)
                    await wait_for(lambda: len(posters.acked) >= acked_at_restart + 100, 30)
                    recovered_in = time.monotonic() - up_at
                    await wait_for(engine.relay.connected.is_set, timeout=10)
                    health = await client.get("/api/v1/health")
                    assert health.status_code == 200, health.text
                    sessions = await engine.db.shared().fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND backend_type = 'client backend'"
                    )
                finally:
                    posters.stopping = True
                    await asyncio.gather(*tasks)
        finally:
            await server.stop()

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, content FROM messages WHERE id = ANY($1::bigint[])", list(posters.acked)
        )
    finally:
        await conn.close()
    stored = {r["id"]: r["content"] for r in rows}
    lost = [i for i, content in posters.acked.items() if stored.get(i) != content]
    record(
        f"faults: PostgreSQL {'restarted' if mode == 'fast' else 'crashed'} while 10 clients post",
        requests=sum(posters.statuses.values()) + len(posters.errors),
        acknowledged_201=len(posters.acked),
        refused_503=posters.statuses[503],
        other_statuses=len(posters.others),
        transport_errors=len(posters.errors),
        messages_lost=len(lost),
        outage_seconds=round(up_at - down_at, 2),
        recovered_within_seconds=round(recovered_in, 2),
        db_sessions_after=sessions,
    )
    assert not posters.others, posters.others[:5]
    assert not posters.errors, posters.errors[:5]
    assert set(posters.statuses) == {201, 503}
    assert before >= 100 and posters.statuses[503] >= 50
    assert lost == []
    # the pool (10) and the event relay's listener; nothing leaked by the outage
    assert sessions <= settings.db_pool_max + 1
