"""A claim says whether anything else was waiting, so the worker looks again only then."""

from __future__ import annotations

from typing import Any

import asyncpg

from engine.storage.ai_queue import AIQueueStorage
from engine.storage.postgres.database import Database, create_pool


async def test_claim_next_tells_whether_more_was_waiting(
    database_url: str,
    app: Any,  # started: the database is migrated
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            org = await conn.fetchval(
                "INSERT INTO organizations (slug, name) VALUES ('backlog-probe', 'b') RETURNING id"
            )
            user = await conn.fetchval(
                "INSERT INTO users (org_id, username, password_hash) "
                "VALUES ($1, 'backlogger', 'x') RETURNING id",
                org,
            )
            chat = await conn.fetchval(
                "INSERT INTO chats (org_id, kind, created_by) VALUES ($1, 'group', $2) "
                "RETURNING id",
                org,
                user,
            )
            first, second = [
                await conn.fetchval(
                    "INSERT INTO messages (org_id, chat_id, role_code, kind, ai_status, "
                    "ai_requested_by) VALUES ($1, $2, 'hr', 'ai', 'pending', $3) RETURNING id",
                    org,
                    chat,
                    user,
                )
                for _ in range(2)
            ]
        engine_pool = await create_pool(database_url, min_size=1, max_size=1, command_timeout=10)
        try:
            storage = AIQueueStorage(Database(engine_pool))
            await storage.register_backends(
                [
                    dict(
                        name="backlog-probe",
                        provider="ollama",
                        base_url="http://x",
                        model="m",
                        capacity=1,
                        weight=1.0,
                    )
                ]
            )

            async def claim() -> tuple[Any, bool]:
                return await storage.claim_next(
                    "probe",
                    backends=["backlog-probe"],
                    aging_seconds=1,
                    lease_seconds=30,
                    only_messages=[first, second],
                )

            job, more = await claim()
            assert job is not None and job.message_id == first and more, "the second waits"
            job_none, more = await claim()
            assert job_none is None and more, "no slot free, and the second still waits"
            await storage.finish(job.id)
            job, more = await claim()
            assert job is not None and job.message_id == second and not more
            await storage.finish(job.id)
            assert await claim() == (None, False)
        finally:
            await engine_pool.close()
    finally:
        await pool.close()
