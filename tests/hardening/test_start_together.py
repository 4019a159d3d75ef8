"""Several engine processes started at the same instant on an empty database all come up.

Each round creates an empty database and starts three real processes (uvicorn) at once:
they race through the migrations, the tenancy step and the bootstrap of the system
organization and its administrator. Every one must answer its health check, exactly one
system organization and one administrator must exist, and the administrator can sign in
through every process.

Real processes cost seconds each, so the many rounds the issue asks for (two, then three
engines at the same instant, 20 times each) run the same start-up path in this process:
`EngineService.start`, which opens its own connections and pool, migrates, sets up tenancy,
bootstraps the system organization and registers the model servers. A few rounds of real
processes (two, then three) check the whole program the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from engine.config import Settings
from engine.services.engine import EngineService
from engine.storage.postgres.migrations import discover
from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.fakes.llm_server import ScriptedLLM
from tests.support.database import create_database, drop_database
from tests.support.engine_process import EngineProcess, engine_env

pytestmark = pytest.mark.slow

PROCESS_ROUNDS = {2: 2, 3: 3}
"""Rounds of real processes: {processes started together: rounds}."""
IN_PROCESS_ROUNDS = 20
ROUNDS_AT_ONCE = 4
"""In-process rounds run side by side (each on its own database) to fit the suite's time."""


async def _one_round(
    pg_admin_dsn: str, llm: ScriptedLLM, workdir: Path, name: str, processes: int
) -> None:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_start")
    env = engine_env(dsn, llm.ollama_base_url, AI_RECOVERY_ENABLED="false")
    engines = [EngineProcess(env, workdir, f"{name}-p{i}") for i in range(processes)]
    try:
        results = await asyncio.gather(
            *(engine.start(timeout=45) for engine in engines), return_exceptions=True
        )
        failed = [f"{e.name}: {r}" for e, r in zip(engines, results, strict=True) if r]
        assert not failed, "\n".join(failed)
        for engine in engines:
            async with httpx.AsyncClient(base_url=engine.base_url, timeout=10) as client:
                health = await client.get("/api/v1/health")
                assert health.status_code == 200, health.text
                login = await client.post(
                    "/api/v1/auth/login",
                    json={"login": "admin", "password": SYSTEM_ADMIN_PASSWORD},
                )
                assert login.status_code == 200, login.text
        assert await _bootstrapped_once(dsn) == (1, 1)
    finally:
        await asyncio.gather(*(engine.stop() for engine in engines))
        await drop_database(pg_admin_dsn, dsn)


async def _bootstrapped_once(dsn: str) -> tuple[int, int]:
    """(system organizations, system administrators); both must be 1."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET app.bypass_tenant = on")
        orgs = await conn.fetchval("SELECT count(*) FROM organizations WHERE is_system")
        admins = await conn.fetchval("SELECT count(*) FROM users WHERE role = 'system_admin'")
    finally:
        await conn.close()
    return orgs, admins


async def test_processes_started_together_on_an_empty_database_all_come_up(
    pg_admin_dsn: str, llm: ScriptedLLM, tmp_path: Path
) -> None:
    for processes, rounds in PROCESS_ROUNDS.items():
        for round_no in range(rounds):
            name = f"x{processes}-r{round_no}"
            await _one_round(pg_admin_dsn, llm, tmp_path, name, processes)


async def _one_round_in_process(
    pg_admin_dsn: str, make_settings: Callable[..., Settings], starts: int
) -> None:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_start")
    try:
        settings = make_settings(
            database_url=dsn,
            llm_backends=[
                {"name": f"gpu{n}", "base_url": "http://127.0.0.1:9", "model": "m", "capacity": 2}
                for n in range(3)
            ],
            events_relay_enabled=False,
            ai_worker_enabled=False,
            db_pool_min=1,
            db_pool_max=2,
        )
        results = await asyncio.gather(
            *(EngineService.start(settings) for _ in range(starts)), return_exceptions=True
        )
        engines = [r for r in results if isinstance(r, EngineService)]
        try:
            failed = [repr(r) for r in results if not isinstance(r, EngineService)]
            assert not failed, "\n".join(failed)
            for engine in engines:  # each one's pool works as the runtime role
                assert await engine.storages.users.exists_system_admin()
            assert await _bootstrapped_once(dsn) == (1, 1)
            conn = await asyncpg.connect(dsn)
            try:
                applied = await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
                backends = await conn.fetch("SELECT name FROM llm_backends ORDER BY 1")
            finally:
                await conn.close()
            assert [r["version"] for r in applied] == [m.version for m in discover()]
            assert [r["name"] for r in backends] == ["gpu0", "gpu1", "gpu2"]
        finally:
            await asyncio.gather(*(engine.close() for engine in engines))
    finally:
        await drop_database(pg_admin_dsn, dsn)


async def test_two_then_three_engines_started_together_on_an_empty_database_20_times(
    pg_admin_dsn: str, make_settings: Callable[..., Settings]
) -> None:
    limit = asyncio.Semaphore(ROUNDS_AT_ONCE)

    async def one(starts: int) -> None:
        async with limit:
            await _one_round_in_process(pg_admin_dsn, make_settings, starts)

    for starts in (2, 3):
        await asyncio.gather(*(one(starts) for _ in range(IN_PROCESS_ROUNDS)))
