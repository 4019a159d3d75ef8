"""The AI queue's claims: once each, without the disk flush wait, whether more waits, and
the documented priority (a person waiting in a chat first, proactive runs after, and a
proactive run that waited past AI_PROACTIVE_AGING_SECONDS no longer stands aside)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from engine.models.ai_queue import ClaimedJob, Priority
from engine.storage.ai_queue import AIQueueStorage
from engine.storage.postgres.database import Database, create_pool

HOUR = 3600.0


@dataclass
class Probe:
    """A queue with one backend of capacity 1, and one chat to ask questions in."""

    storage: AIQueueStorage
    backend: str
    raw: asyncpg.Pool
    engine_pool: asyncpg.Pool
    org: UUID
    user: UUID
    chat: UUID

    async def ask(self) -> int:
        """A pending AI answer, queued by the database's trigger as the engine's are."""
        return int(
            await self.raw.fetchval(
                "INSERT INTO messages (org_id, chat_id, role_code, kind, ai_status, "
                "ai_requested_by) VALUES ($1, $2, 'hr', 'ai', 'pending', $3) RETURNING id",
                self.org,
                self.chat,
                self.user,
            )
        )

    async def ticket(self, priority: Priority) -> int:
        return await self.storage.add_ticket(self.org, self.user, priority, "probe", 30)

    def _kwargs(self, aging: float) -> dict[str, Any]:
        return {"backends": [self.backend], "aging_seconds": aging, "lease_seconds": 30}

    async def claim(self, *messages: int, aging: float = HOUR) -> ClaimedJob | None:
        job, _ = await self.claim_and_backlog(*messages, aging=aging)
        return job

    async def claim_and_backlog(
        self, *messages: int, aging: float = 1.0
    ) -> tuple[ClaimedJob | None, bool]:
        claim = await self.storage.claim(
            "probe", only_messages=list(messages), **self._kwargs(aging)
        )
        return claim.job, claim.more_waiting

    async def grant(self, ticket: int, aging: float = HOUR) -> str | None:
        return await self.storage.grant_ticket(ticket, **self._kwargs(aging))


@pytest.fixture
async def probe(isolated_database_url: str) -> AsyncIterator[Probe]:
    """On a database of its own: the claim looks at every queued job and ticket."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    raw = await asyncpg.create_pool(isolated_database_url, min_size=1, max_size=1)
    assert raw is not None
    engine_pool = await create_pool(
        isolated_database_url, min_size=1, max_size=1, command_timeout=10
    )
    try:
        org = await raw.fetchval(
            "INSERT INTO organizations (slug, name) VALUES ($1, 'p') RETURNING id", name
        )
        user = await raw.fetchval(
            "INSERT INTO users (org_id, username, password_hash) "
            "VALUES ($1, 'prober', 'x') RETURNING id",
            org,
        )
        chat = await raw.fetchval(
            "INSERT INTO chats (org_id, kind, created_by) VALUES ($1, 'group', $2) RETURNING id",
            org,
            user,
        )
        storage = AIQueueStorage(Database(engine_pool))
        await storage.register_backends(
            [
                dict(
                    name=name,
                    provider="ollama",
                    base_url="http://x",
                    model="m",
                    capacity=1,
                    weight=1.0,
                )
            ]
        )
        yield Probe(storage, name, raw, engine_pool, org, user, chat)
    finally:
        await engine_pool.close()
        await raw.close()


async def test_claim_does_not_leave_synchronous_commit_off(probe: Probe) -> None:
    question = await probe.ask()
    job = await probe.claim(question)
    assert job is not None and job.attempts == 1 and job.message_id == question
    assert await probe.claim(question) is None, "claimed once only"
    assert await probe.engine_pool.fetchval("SHOW synchronous_commit") == "on"
    status = await probe.raw.fetchval("SELECT status FROM ai_jobs WHERE message_id = $1", question)
    assert status == "running"


async def test_a_claim_tells_whether_more_was_waiting(probe: Probe) -> None:
    first, second = await probe.ask(), await probe.ask()
    job, more = await probe.claim_and_backlog(first, second)
    assert job is not None and job.message_id == first and more, "the second waits"
    job_none, more = await probe.claim_and_backlog(first, second)
    assert job_none is None and more, "no slot free, and the second still waits"
    await probe.storage.finish(job.id)
    job, more = await probe.claim_and_backlog(first, second)
    assert job is not None and job.message_id == second and not more
    await probe.storage.finish(job.id)
    assert await probe.claim_and_backlog(first, second) == (None, False)


async def test_a_chat_answer_goes_before_an_older_proactive_run(probe: Probe) -> None:
    proactive = await probe.ticket(Priority.PROACTIVE)
    question = await probe.ask()
    assert await probe.grant(proactive) is None  # a person waits in a chat
    job = await probe.claim(question)
    assert job is not None and job.message_id == question
    await probe.storage.finish(job.id)
    assert await probe.grant(proactive) == probe.backend  # nobody waits now
    await probe.storage.finish(proactive)


async def test_a_person_waiting_through_a_ticket_or_an_aged_run_keeps_its_place(
    probe: Probe,
) -> None:
    for priority, aging in ((Priority.PERSON_WAITING, HOUR), (Priority.PROACTIVE, 0.0)):
        earlier = await probe.ticket(priority)
        question = await probe.ask()
        # the free slot is the ticket's: the later chat answer is not claimed past it
        assert await probe.claim(question, aging=aging) is None
        assert await probe.grant(earlier, aging=aging) == probe.backend
        await probe.storage.finish(earlier)
        job = await probe.claim(question, aging=aging)
        assert job is not None and job.message_id == question
        await probe.storage.finish(job.id)


async def test_an_answer_moving_off_a_failed_server_goes_before_new_claims(probe: Probe) -> None:
    """Its server failed mid-answer: the next free slot is the moving answer's, not the
    next question's or a ticket's, however long the queue behind it."""
    failed = f"{probe.backend}-failed"
    await probe.storage.register_backends(
        [dict(name=failed, provider="ollama", base_url="http://y", model="m", capacity=1, weight=1)]
    )

    async def cut_while_the_other_is_busy(question: int) -> tuple[ClaimedJob, ClaimedJob]:
        """`question` running on the failed server, and the job taking the other's slot."""
        on_failed = await probe.storage.claim(
            "probe",
            backends=[failed],
            aging_seconds=HOUR,
            lease_seconds=30,
            only_messages=[question],
        )
        running = await probe.claim(await probe.ask())
        assert on_failed.job is not None and running is not None
        return on_failed.job, running

    def move(job: ClaimedJob) -> Any:
        return probe.storage.move(
            job.id, backends=[probe.backend], exclude=[failed], lease_seconds=30
        )

    cut, busy = await cut_while_the_other_is_busy(await probe.ask())
    later = await probe.ask()
    ticket = await probe.ticket(Priority.PERSON_WAITING)
    assert await move(cut) is None, "no slot free yet: it waits, on record"
    in_use = {b.name: b.slots_in_use for b in await probe.storage.backend_states()}
    assert in_use == {failed: 0, probe.backend: 1}, "the failed call's slot is free"
    await probe.storage.finish(busy.id)
    assert await probe.claim(later) is None, "the freed slot is the moving answer's"
    assert await probe.grant(ticket) is None
    assert await move(cut) == probe.backend
    moving = await probe.raw.fetchval("SELECT moving_from FROM ai_jobs WHERE id = $1", cut.id)
    assert moving is None
    await probe.storage.finish(cut.id)
    assert await probe.grant(ticket) == probe.backend
    await probe.storage.finish(ticket)

    # one that gives up waiting (no attempts left) stops holding the queue back
    again, busy = await cut_while_the_other_is_busy(later)
    assert await move(again) is None
    await probe.storage.finish(busy.id)
    assert await probe.claim(await probe.ask()) is None
    await probe.storage.stop_moving(again.id)
    assert await probe.claim(await probe.ask()) is not None


async def test_a_claim_says_whether_it_left_a_slot_free(probe: Probe) -> None:
    """The claimer wakes the other processes only for a slot it left free while something
    waited: here a person-waiting ticket, whose turn it is, keeps the slot from the claim."""
    question = await probe.ask()
    ticket = await probe.ticket(Priority.PERSON_WAITING)
    later = await probe.ask()
    claim = await probe.storage.claim("probe", only_messages=[question], **probe._kwargs(HOUR))
    assert claim.job is not None and not claim.slot_left, "it took the only slot"
    full = await probe.storage.claim("probe", only_messages=[later], **probe._kwargs(HOUR))
    assert full.job is None and full.more_waiting and not full.slot_left, "none was free"
    await probe.storage.finish(claim.job.id)
    blocked = await probe.storage.claim("probe", only_messages=[later], **probe._kwargs(HOUR))
    assert blocked.job is None and blocked.more_waiting and blocked.slot_left, "the ticket's"
    assert await probe.grant(ticket) == probe.backend
    await probe.storage.finish(ticket)
