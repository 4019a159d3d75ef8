"""Bounded load on loopback: 50 concurrent users for 60 s against a real engine process.

Five organizations of ten users; each user loops over a mix of reads (chats, a page of
messages, profile, calendar), plain posts and `@@role` questions answered by the scripted
LLM, with a short random think time. The engine runs as its own uvicorn process with the
production pool size (2-10) on a database of its own. Checked: no failed request, every
acknowledged message stored, every AI answer done, PostgreSQL sessions never above the pool
(+1 for the event relay's listener); p50/p95/p99 latencies are recorded.

`LOAD_TEST_SECONDS` and `LOAD_TEST_USERS` change the size (CI runs the defaults).
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.fakes.waiting import wait_for
from tests.support.api import Account, Api, create_chat
from tests.support.database import create_database, drop_database
from tests.support.engine_process import EngineProcess, engine_env
from tests.support.figures import record

pytestmark = pytest.mark.slow

DURATION = float(os.environ.get("LOAD_TEST_SECONDS", "60"))
USERS = int(os.environ.get("LOAD_TEST_USERS", "50"))
ORGS = 5
POOL_MAX = 10
THINK_SECONDS = (0.0, 0.2)
MIX = [("read", 55), ("post", 35), ("ask_ai", 10)]
ANSWER = "Ответ под нагрузкой."


@pytest.fixture
async def own_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_load")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    failures: list[str] = field(default_factory=list)
    posted: dict[int, str] = field(default_factory=dict)
    ai_ids: list[tuple[str, int]] = field(default_factory=list)  # (chat id, message id)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + len(self.failures)


@dataclass
class User:
    account: Account
    org_id: str
    chat_id: str


async def _act(client: httpx.AsyncClient, user: User, kind: str, n: int, out: Results) -> None:
    h = user.account.headers
    base = f"/api/v1/chats/{user.chat_id}"
    started = time.perf_counter()
    if kind == "read":
        url = random.choice(
            [
                "/api/v1/chats",
                f"{base}/messages?limit=50",
                "/api/v1/users/me",
                "/api/v1/calendar/events",
                f"{base}",
            ]
        )
        response = await client.get(url, headers=h)
        expected = 200
    else:
        text = f"{user.account.username}-{n}"
        if kind == "ask_ai":
            text = f"@@accountant сколько будет {n}? ({text})"
        response = await client.post(f"{base}/messages", headers=h, json={"content": text})
        expected = 201
    elapsed = time.perf_counter() - started
    if response.status_code != expected:
        out.failures.append(f"{kind}: {response.status_code} {response.text[:200]}")
        return
    out.latencies[kind].append(elapsed)
    if expected == 201:
        body = response.json()
        out.posted[body["message"]["id"]] = body["message"]["content"]
        out.ai_ids += [(user.chat_id, i) for i in body["ai_message_ids"]]


async def _user_loop(
    client: httpx.AsyncClient, user: User, deadline: float, seed: int, out: Results
) -> None:
    rng = random.Random(seed)
    kinds = [k for k, w in MIX for _ in range(w)]
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            await _act(client, user, rng.choice(kinds), n, out)
        except httpx.HTTPError as exc:
            out.failures.append(f"transport: {exc!r}")
        await asyncio.sleep(rng.uniform(*THINK_SECONDS))  # think time between actions


async def _sessions(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The engine's connections: client backends only (autovacuum and parallel query
    workers on this database are not connections of the engine)."""
    rows = await conn.fetch(
        "SELECT pid, backend_type, state, backend_start, left(query, 60) AS query "
        "FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    return [dict(r) for r in rows]


def _ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


async def test_fifty_users_for_sixty_seconds(
    own_database: str, llm: ScriptedLLM, tmp_path: Path
) -> None:
    llm.set_default(lambda messages: Reply.text(ANSWER, delay=0.05))
    env = engine_env(
        own_database,
        llm.ollama_base_url,
        DB_POOL_MIN="2",
        DB_POOL_MAX=str(POOL_MAX),
        LLM_MAX_CONCURRENCY="4",
        LLM_TIMEOUT_SECONDS="30",
        LOGIN_MAX_FAILURES_PER_IP="1000",
        LOG_LEVEL="WARNING",
    )
    engine = EngineProcess(env, tmp_path, "load")
    await engine.start()
    monitor = await asyncpg.connect(own_database)
    # idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, or a
    # request sent just as the server closes its side fails (a client-side race)
    limits = httpx.Limits(
        max_connections=USERS + 10, max_keepalive_connections=USERS + 10, keepalive_expiry=2.0
    )
    try:
        async with httpx.AsyncClient(base_url=engine.base_url, timeout=30, limits=limits) as client:
            api = Api(client, SYSTEM_ADMIN_PASSWORD)
            users: list[User] = []
            per_org = USERS // ORGS
            for _ in range(ORGS):
                org = await api.create_org(members=per_org)
                chat = await create_chat(client, org.members[0], *org.members[1:])
                users += [User(m, org.id, chat["id"]) for m in org.members]
            peak_sessions = await _sessions(monitor)

            out = Results()
            deadline = time.monotonic() + DURATION
            started = time.monotonic()
            loops = [
                asyncio.create_task(_user_loop(client, user, deadline, i, out))
                for i, user in enumerate(users)
            ]
            while not all(t.done() for t in loops):
                sessions = await _sessions(monitor)
                if len(sessions) > len(peak_sessions):
                    peak_sessions = sessions
                await asyncio.wait(loops, timeout=0.5)  # sample sessions twice a second
            await asyncio.gather(*loops)
            ran_for = time.monotonic() - started

            async def answered() -> bool:
                rows = await monitor.fetch(
                    "SELECT ai_status FROM messages WHERE id = ANY($1::bigint[])",
                    [mid for _, mid in out.ai_ids],
                )
                return len(rows) == len(out.ai_ids) and all(
                    r["ai_status"] in ("done", "failed") for r in rows
                )

            await wait_for(answered, timeout=120, interval=0.5, message="AI answers unfinished")
            health = await client.get("/api/v1/health")
        stored = {
            r["id"]: r["content"]
            for r in await monitor.fetch(
                "SELECT id, content FROM messages WHERE id = ANY($1::bigint[])", list(out.posted)
            )
        }
        ai_states = collections.Counter(
            r["ai_status"]
            for r in await monitor.fetch(
                "SELECT ai_status FROM messages WHERE id = ANY($1::bigint[])",
                [mid for _, mid in out.ai_ids],
            )
        )
        after_sessions = len(await _sessions(monitor))
    finally:
        await monitor.close()
        await engine.stop()

    peak = len(peak_sessions)
    every = [x for values in out.latencies.values() for x in values]
    lost = [i for i, content in out.posted.items() if stored.get(i) != content]
    figures: dict[str, Any] = {
        "users": len(users),
        "seconds": round(ran_for, 1),
        "requests": out.requests,
        "requests_per_second": round(out.requests / ran_for, 1),
        "failed": len(out.failures),
        "error_rate": round(len(out.failures) / max(1, out.requests), 4),
        "messages_posted": len(out.posted),
        "messages_lost": len(lost),
        "ai_answers": len(out.ai_ids),
        "ai_done": ai_states["done"],
        "p50_ms": _ms(every, 0.50),
        "p95_ms": _ms(every, 0.95),
        "p99_ms": _ms(every, 0.99),
        "max_ms": _ms(every, 1.0),
        "mean_ms": round(statistics.fmean(every) * 1000, 1) if every else 0,
        "db_sessions_peak": peak,
        "db_sessions_after": after_sessions,
    }
    for kind, values in out.latencies.items():
        figures[f"{kind}_p99_ms"] = _ms(values, 0.99)
    record(f"load: {len(users)} users for {round(DURATION)} s", **figures)
    assert not out.failures, out.failures[:10]
    assert lost == []
    assert ai_states == {"done": len(out.ai_ids)}, ai_states
    assert health.status_code == 200
    # the pool's connections plus the event relay's listener, never more
    assert peak <= POOL_MAX + 1, peak_sessions
    assert out.requests > USERS * DURATION, "the load generator did not keep up"
