"""The queue's documented priority: a person waiting in a chat first, proactive runs after,
and a proactive run that waited past AI_PROACTIVE_AGING_SECONDS no longer stands aside."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from engine.models.ai_queue import Priority
from engine.storage.ai_queue import AIQueueStorage
from engine.storage.postgres.database import Database, create_pool

BACKEND = "priority-probe"
HOUR = 3600.0


@pytest.fixture
async def queue(database_url: str, app: Any) -> AsyncIterator[tuple[AIQueueStorage, Any]]:
    """The queue storage, one backend of capacity 1, and a way to ask a chat question."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    engine_pool = await create_pool(database_url, min_size=1, max_size=2, command_timeout=10)
    async with pool.acquire() as conn:
        org = await conn.fetchval(
            "INSERT INTO organizations (slug, name) VALUES ($1, 'p') RETURNING id",
            f"priority-{uuid.uuid4().hex[:8]}",
        )
        user = await conn.fetchval(
            "INSERT INTO users (org_id, username, password_hash) "
            "VALUES ($1, 'prioritised', 'x') RETURNING id",
            org,
        )
        chat = await conn.fetchval(
            "INSERT INTO chats (org_id, kind, created_by) VALUES ($1, 'group', $2) RETURNING id",
            org,
            user,
        )
    storage = AIQueueStorage(Database(engine_pool))
    await storage.register_backends(
        [
            dict(
                name=BACKEND,
                provider="ollama",
                base_url="http://x",
                model="m",
                capacity=1,
                weight=1.0,
            )
        ]
    )

    async def ask() -> int:
        async with pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "INSERT INTO messages (org_id, chat_id, role_code, kind, ai_status, "
                    "ai_requested_by) VALUES ($1, $2, 'hr', 'ai', 'pending', $3) RETURNING id",
                    org,
                    chat,
                    user,
                )
            )

    async def ticket(priority: Priority) -> int:
        return await storage.add_ticket(org, user, priority, "probe", 30)

    try:
        yield storage, (ask, ticket)
    finally:
        await engine_pool.close()
        await pool.close()


async def test_a_chat_answer_goes_before_an_older_proactive_run(
    queue: tuple[AIQueueStorage, Any],
) -> None:
    storage, (ask, ticket) = queue
    proactive = await ticket(Priority.PROACTIVE)
    question = await ask()

    async def claim(aging: float = HOUR) -> Any:
        return await storage.claim(
            "probe",
            backends=[BACKEND],
            aging_seconds=aging,
            lease_seconds=30,
            only_messages=[question],
        )

    async def grant(aging: float = HOUR) -> str | None:
        return await storage.grant_ticket(
            proactive, backends=[BACKEND], aging_seconds=aging, lease_seconds=30
        )

    assert await grant() is None  # a person waits in a chat
    job = await claim()
    assert job is not None and job.message_id == question
    await storage.finish(job.id)
    assert await grant() == BACKEND  # nobody waits now
    await storage.finish(proactive)


async def test_a_person_waiting_through_a_ticket_or_an_aged_run_keeps_its_place(
    queue: tuple[AIQueueStorage, Any],
) -> None:
    storage, (ask, ticket) = queue
    for priority, aging in ((Priority.PERSON_WAITING, HOUR), (Priority.PROACTIVE, 0.0)):
        earlier = await ticket(priority)
        question = await ask()
        kwargs = dict(backends=[BACKEND], aging_seconds=aging, lease_seconds=30)
        # the free slot is the ticket's: the later chat answer is not claimed past it
        assert await storage.claim("probe", only_messages=[question], **kwargs) is None
        assert await storage.grant_ticket(earlier, **kwargs) == BACKEND
        await storage.finish(earlier)
        job = await storage.claim("probe", only_messages=[question], **kwargs)
        assert job is not None and job.message_id == question
        await storage.finish(job.id)
