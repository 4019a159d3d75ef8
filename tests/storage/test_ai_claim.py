"""Claiming AI work skips the wait for the disk flush, for that transaction only."""

from __future__ import annotations

from typing import Any

import asyncpg

from engine.storage.ai_queue import AIQueueStorage
from engine.storage.postgres.database import Database, create_pool


async def test_claim_does_not_leave_synchronous_commit_off(
    database_url: str,
    app: Any,  # started: the database is migrated
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            org = await conn.fetchval(
                "INSERT INTO organizations (slug, name) VALUES ('claim-probe', 'c') RETURNING id"
            )
            user = await conn.fetchval(
                "INSERT INTO users (org_id, username, password_hash) "
                "VALUES ($1, 'claimer', 'x') RETURNING id",
                org,
            )
            chat = await conn.fetchval(
                "INSERT INTO chats (org_id, kind, created_by) VALUES ($1, 'group', $2) "
                "RETURNING id",
                org,
                user,
            )
            message_id = await conn.fetchval(
                "INSERT INTO messages (org_id, chat_id, role_code, kind, ai_status, "
                "ai_requested_by) VALUES ($1, $2, 'hr', 'ai', 'pending', $3) RETURNING id",
                org,
                chat,
                user,
            )
        engine_pool = await create_pool(database_url, min_size=1, max_size=1, command_timeout=10)
        try:
            storage = AIQueueStorage(Database(engine_pool))
            await storage.register_backends(
                [
                    dict(
                        name="claim-probe",
                        provider="ollama",
                        base_url="http://x",
                        model="m",
                        capacity=1,
                        weight=1.0,
                    )
                ]
            )

            async def claim() -> object:
                return await storage.claim(
                    "probe",
                    backends=["claim-probe"],
                    aging_seconds=1,
                    lease_seconds=30,
                    only_messages=[message_id],
                )

            job = await claim()
            assert job is not None and job.attempts == 1 and job.message_id == message_id
            assert await claim() is None, "claimed once only"
            assert await engine_pool.fetchval("SHOW synchronous_commit") == "on"
        finally:
            await engine_pool.close()
        status = await pool.fetchval("SELECT status FROM ai_jobs WHERE message_id = $1", message_id)
        assert status == "running"
    finally:
        await pool.close()
