"""The engine SIGKILLed in the middle of AI work, twice; a third process finishes it all.

Real OS processes (uvicorn) on a database of their own. The first process is killed while
its AI answers are inside the (hanging) LLM and more are queued; the second is killed while
re-running them; the third, with a working LLM, answers everything. Afterwards no answer is
pending or running, every question has exactly one answer, and none was answered twice.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import SYSTEM_ADMIN_PASSWORD, TEST_JWT_SECRET
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.fakes.waiting import wait_for
from tests.support.api import Api, create_chat, post_message
from tests.support.database import create_database, drop_database
from tests.support.engine_process import EngineProcess
from tests.support.figures import record

pytestmark = pytest.mark.slow

QUESTIONS = 12
ANSWER = "Ответ после перезапуска."


@pytest.fixture
async def own_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_sigkill")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


def _env(dsn: str, llm: ScriptedLLM, **extra: str) -> dict[str, str]:
    return {
        "ENVIRONMENT": "test",
        "DATABASE_URL": dsn,
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "ADMIN_PASSWORD": SYSTEM_ADMIN_PASSWORD,
        "LLM_BASE_URL": llm.ollama_base_url,
        "LLM_TIMEOUT_SECONDS": "30",
        "LLM_MAX_CONCURRENCY": "3",
        "AI_LEASE_SECONDS": "1",
        "AI_RECOVERY_INTERVAL_SECONDS": "0.2",
        "SCHEDULER_ENABLED": "false",
        **extra,
    }


async def _ai_states(dsn: str) -> collections.Counter[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT ai_status FROM messages WHERE kind = 'ai'")
    finally:
        await conn.close()
    return collections.Counter(r["ai_status"] for r in rows)


async def test_sigkill_during_ai_work_loses_and_repeats_nothing(
    own_database: str, llm: ScriptedLLM, tmp_path: Path
) -> None:
    llm.set_default(Reply.hang())
    first = EngineProcess(_env(own_database, llm), tmp_path, "first")
    await first.start()
    try:
        async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as client:
            api = Api(client, SYSTEM_ADMIN_PASSWORD)
            org = await api.create_org(members=2)
            chat = await create_chat(client, *org.members)
            posted = []
            for i in range(QUESTIONS):
                role = "lawyer" if i % 3 == 0 else "accountant"  # chain and simple agents
                posted.append(
                    await post_message(client, org.members[0], chat["id"], f"@@{role} вопрос {i}")
                )
        await wait_for(lambda: llm.in_flight == 3, timeout=15)
    finally:
        await first.kill()
    killed_first = await _ai_states(own_database)
    assert killed_first["running"] == 3 and killed_first["pending"] == QUESTIONS - 3

    # the second process picks the work up and is killed in the middle of it too
    second = EngineProcess(_env(own_database, llm), tmp_path, "second")
    in_flight_before = llm.in_flight
    await second.start()
    try:
        await wait_for(lambda: llm.in_flight >= in_flight_before + 3, timeout=15)
    finally:
        await second.kill()
    killed_second = await _ai_states(own_database)
    assert killed_second["running"] >= 3

    llm.reset()
    llm.set_default(lambda messages: Reply.text(ANSWER))
    third = EngineProcess(_env(own_database, llm), tmp_path, "third")
    await third.start()
    try:
        await wait_for(
            lambda: _all_done(own_database), timeout=60, interval=0.2, message="AI work not done"
        )
        async with httpx.AsyncClient(base_url=third.base_url, timeout=10) as client:
            member = await Api(client, SYSTEM_ADMIN_PASSWORD).account(
                org.members[1].username, "user-password-123", org.slug
            )
            listed = await client.get(
                f"/api/v1/chats/{chat['id']}/messages",
                headers=member.headers,
                params={"limit": 200},
            )
    finally:
        await third.stop()
    items = listed.json()["items"]
    answers = [m for m in items if m["kind"] == "ai"]
    by_question = collections.Counter(m["reply_to_id"] for m in answers)
    asked = {p["message"]["id"] for p in posted}
    assert set(by_question) == asked and set(by_question.values()) == {1}
    assert all(m["ai_status"] == "done" and m["content"] == ANSWER for m in answers)
    conn = await asyncpg.connect(own_database)
    try:
        attempts = await conn.fetch("SELECT ai_attempts FROM messages WHERE kind = 'ai'")
    finally:
        await conn.close()
    # each answer went to the working model exactly once: chain (lawyer) = 3 calls
    lawyers = sum(1 for i in range(QUESTIONS) if i % 3 == 0)
    expected_calls = lawyers * 3 + (QUESTIONS - lawyers)
    assert len(llm.requests) == expected_calls, (len(llm.requests), expected_calls)
    record(
        "faults: engine SIGKILLed twice during AI work",
        ai_answers=QUESTIONS,
        running_at_first_kill=killed_first["running"],
        pending_at_first_kill=killed_first["pending"],
        running_at_second_kill=killed_second["running"],
        done_after_restart=sum(1 for m in answers if m["ai_status"] == "done"),
        stuck=0,
        answered_twice=sum(1 for n in by_question.values() if n > 1),
        max_attempts=max(r["ai_attempts"] for r in attempts),
    )


async def _all_done(dsn: str) -> bool:
    states: Any = await _ai_states(dsn)
    return bool(states) and set(states) == {"done"}
