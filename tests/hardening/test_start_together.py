"""Several engine processes started at the same instant on an empty database all come up.

Each round creates an empty database and starts three real processes (uvicorn) at once:
they race through the migrations, the tenancy step and the bootstrap of the system
organization and its administrator. Every one must answer its health check, exactly one
system organization and one administrator must exist, and the administrator can sign in
through every process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.fakes.llm_server import ScriptedLLM
from tests.support.database import create_database, drop_database
from tests.support.engine_process import EngineProcess, engine_env

pytestmark = pytest.mark.slow

ROUNDS = 4
PROCESSES = 3


async def _one_round(pg_admin_dsn: str, llm: ScriptedLLM, workdir: Path, round_no: int) -> None:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_start")
    env = engine_env(dsn, llm.ollama_base_url, AI_RECOVERY_ENABLED="false")
    engines = [EngineProcess(env, workdir, f"r{round_no}-p{i}") for i in range(PROCESSES)]
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
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET app.bypass_tenant = on")
            orgs = await conn.fetchval("SELECT count(*) FROM organizations WHERE is_system")
            admins = await conn.fetchval("SELECT count(*) FROM users WHERE role = 'system_admin'")
        finally:
            await conn.close()
        assert (orgs, admins) == (1, 1)
    finally:
        await asyncio.gather(*(engine.stop() for engine in engines))
        await drop_database(pg_admin_dsn, dsn)


async def test_processes_started_together_on_an_empty_database_all_come_up(
    pg_admin_dsn: str, llm: ScriptedLLM, tmp_path: Path
) -> None:
    for round_no in range(ROUNDS):
        await _one_round(pg_admin_dsn, llm, tmp_path, round_no)
