"""The engine SIGKILLed in the middle of AI work and of scheduler firings.

Real OS processes (uvicorn) on a database of their own. AI answers: the first process is
killed while its answers are inside the (hanging) LLM and more are queued; the second is
killed while re-running them; the third, with a working LLM, answers everything. Afterwards
no answer is pending or running, every question has exactly one answer, none answered twice.
Scheduler: killed while events with an agent step are firing; after the restart every
occurrence has fired exactly once and was mailed exactly once.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import SYSTEM_ADMIN_PASSWORD
from tests.fakes import FakeSMTP
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.fakes.waiting import wait_for
from tests.support.api import Api, create_chat, post_message
from tests.support.database import create_database, drop_database
from tests.support.engine_process import EngineProcess, engine_env
from tests.support.figures import record

pytestmark = pytest.mark.slow

QUESTIONS = 12
EVENTS = 12
ANSWER = "Ответ после перезапуска."


@pytest.fixture
async def own_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(pg_admin_dsn, prefix="rugpt_sigkill")
    yield dsn
    await drop_database(pg_admin_dsn, dsn)


def _env(dsn: str, llm: ScriptedLLM, **extra: str) -> dict[str, str]:
    settings = {
        "LLM_TIMEOUT_SECONDS": "30",
        "LLM_MAX_CONCURRENCY": "3",
        "AI_LEASE_SECONDS": "1",
        "AI_RECOVERY_INTERVAL_SECONDS": "0.2",
        **extra,
    }
    return engine_env(dsn, llm.ollama_base_url, **settings)


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


async def _runs(dsn: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                """SELECT e.title, r.occurrence_at, r.status, r.attempt
                   FROM calendar_event_runs r JOIN calendar_events e ON e.id = r.event_id"""
            )
        )
    finally:
        await conn.close()


async def _notifications(dsn: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch("SELECT subject, body, status FROM notifications"))
    finally:
        await conn.close()


async def test_sigkill_during_scheduler_firings_fires_each_occurrence_once(
    own_database: str, llm: ScriptedLLM, fake_smtp: FakeSMTP, tmp_path: Path
) -> None:
    """Events with an agent step are firing (the model hangs) when the engine is killed;
    mail is down meanwhile, so every send happens after the restart and is countable."""
    scheduler = {
        "SCHEDULER_ENABLED": "true",
        "SCHEDULER_INTERVAL_SECONDS": "0.2",
        "SCHEDULER_CONCURRENCY": "4",
        "SCHEDULER_AGENT_TIMEOUT_SECONDS": "10",
        "SCHEDULER_LEASE_SECONDS": "3",
        "NOTIFICATION_DISPATCH_INTERVAL_SECONDS": "0.2",
        "NOTIFICATION_BACKOFF_BASE_SECONDS": "0.2",
        "NOTIFICATION_BACKOFF_MAX_SECONDS": "1",
        "NOTIFICATION_MAX_ATTEMPTS": "1000",
        "NOTIFICATION_LEASE_SECONDS": "3",
        "LLM_MAX_CONCURRENCY": "4",
        "SMTP_HOST": fake_smtp.host,
        "SMTP_PORT": str(fake_smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT_SECONDS": "2",
    }
    await fake_smtp.down()
    llm.set_default(Reply.hang())
    first = EngineProcess(_env(own_database, llm, **scheduler), tmp_path, "scheduler-first")
    await first.start()
    try:
        async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as client:
            api = Api(client, SYSTEM_ADMIN_PASSWORD)
            org = await api.create_org(members=1)
            owner = org.members[0]
            channel = await client.post(
                "/api/v1/notifications/channels",
                headers=owner.headers,
                json={"type": "email", "address": "owner@example.com"},
            )
            assert channel.status_code == 201, channel.text
            starts = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            titles = []
            for i in range(EVENTS):
                body: dict[str, Any] = {
                    "title": f"event-{i}",
                    "starts_at": starts,
                    "remind_before_minutes": 60,  # due right away
                }
                if i % 2 == 0:
                    body.update(role_code="accountant", prompt=f"Отчёт {i}")
                created = await client.post(
                    "/api/v1/calendar/events", headers=owner.headers, json=body
                )
                assert created.status_code == 201, created.text
                titles.append(body["title"])
        await wait_for(lambda: llm.in_flight >= 4, timeout=60)
    finally:
        await first.kill()
    at_kill = collections.Counter(r["status"] for r in await _runs(own_database))
    assert at_kill["running"] >= 4, at_kill  # agents hanging, and claimed runs waiting

    llm.reset()
    llm.set_default(lambda messages: Reply.text(ANSWER))
    await fake_smtp.up()
    # the first process's leases (3 s) expire and are taken over; this one is patient with
    # its agents (its heartbeat keeps their 3 s leases), so a slow start under load cannot
    # turn into an agent timeout or a second takeover
    patient = {**scheduler, "SCHEDULER_AGENT_TIMEOUT_SECONDS": "60"}
    second = EngineProcess(_env(own_database, llm, **patient), tmp_path, "scheduler-second")
    await second.start()
    try:
        await wait_for(
            lambda: len(fake_smtp.messages) >= EVENTS and _all_runs_done(own_database),
            timeout=60,
            interval=0.2,
            message="not every occurrence fired and was mailed after the restart",
        )
        # runs `done` and notifications `sent` are final: nothing can fire or mail again
        notifications = await _notifications(own_database)
        assert all(n["status"] == "sent" for n in notifications)
    finally:
        await second.stop()
    runs = await _runs(own_database)
    per_event = collections.Counter(r["title"] for r in runs)
    mails = collections.Counter(m.subject for m in fake_smtp.messages)
    assert per_event == {t: 1 for t in titles}, per_event
    assert mails == {f"Календарь: {t}": 1 for t in titles}, mails
    assert all(r["status"] == "done" for r in runs)
    with_agent = {f"Календарь: event-{i}" for i in range(0, EVENTS, 2)}
    role_bodies = [n["body"] for n in notifications if n["subject"] in with_agent]
    # the answer of the restarted run; or, had an agent run of the killed process already
    # timed out before the kill, that stored outcome is reused instead of asking again
    assert len(role_bodies) == len(with_agent)
    assert all(ANSWER in b or "не выполнила" in b for b in role_bodies), role_bodies
    record(
        "faults: engine SIGKILLed during scheduler firings",
        occurrences=EVENTS,
        running_at_kill=at_kill["running"],
        done_at_kill=at_kill["done"],
        fired_after_restart=sum(1 for r in runs if r["status"] == "done"),
        fired_twice=sum(1 for n in per_event.values() if n > 1),
        lost=EVENTS - len(per_event),
        mails=len(fake_smtp.messages),
        mailed_twice=sum(1 for n in mails.values() if n > 1),
        max_attempt=max(r["attempt"] for r in runs),
    )


async def _all_runs_done(dsn: str) -> bool:
    runs = await _runs(dsn)
    return len(runs) == EVENTS and all(r["status"] == "done" for r in runs)
