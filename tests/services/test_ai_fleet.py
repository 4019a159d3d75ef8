"""The fleet: several engines on one database share the model servers' slots, fairly.

A replica that serves HTTP only and two worker engines run in this process on one
PostgreSQL, with three scripted model servers of capacities 1, 2 and 4; the servers record
their peak concurrency.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import httpx

from engine.config import Settings
from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes.llm_server import Reply, ScriptedLLM
from tests.fakes.waiting import wait_for
from tests.support.api import Api, Org, create_chat, post_message
from tests.support.fleet import CAPACITIES, backends_of, scripted_fleet


@asynccontextmanager
async def fleet(
    make_settings: Callable[..., Settings], replies: dict[str, Reply], **overrides: Any
) -> AsyncIterator[tuple[dict[str, ScriptedLLM], httpx.AsyncClient, list[Any]]]:
    async with AsyncExitStack() as stack:
        servers = await scripted_fleet(stack)
        for name, server in servers.items():
            server.set_default(replies[name])
        backends = backends_of(servers)
        common = {
            "llm_backends": backends,
            "ai_recovery_enabled": True,
            "ai_poll_interval_seconds": 0.2,
            "ai_backend_backoff_seconds": 30,
            **overrides,
        }
        _, replica = await stack.enter_async_context(
            running_app(make_settings(ai_worker_enabled=False, **common))
        )
        # the suite's database outlives a fleet: start from healthy servers of these names
        conn = await asyncpg.connect(make_settings().database_url)
        try:
            await conn.execute(
                """UPDATE llm_backends SET ejected_until = NULL, consecutive_failures = 0,
                          ejections = 0, last_error = NULL
                   WHERE name = ANY($1::text[])""",
                list(CAPACITIES),
            )
        finally:
            await conn.close()
        workers = []
        for _ in range(2):
            app, _client = await stack.enter_async_context(running_app(make_settings(**common)))
            workers.append(app.state.engine)
        yield servers, replica, workers


async def _status(client: httpx.AsyncClient, org: Org, chat_id: str, ids: list[int]) -> list[str]:
    response = await client.get(
        f"/api/v1/chats/{chat_id}/messages?limit=200", headers=org.members[0].headers
    )
    by_id = {m["id"]: m for m in response.json()["items"]}
    return [by_id[i]["ai_status"] for i in ids]


def _question(text: str) -> str:
    """The question of a model request's last user message ("user1 (@user1): ...")."""
    return text[text.index("@@accountant") :]


async def _ask_many(client: httpx.AsyncClient, org: Org, count: int) -> tuple[str, list[int]]:
    chat = await create_chat(client, org.members[0], org.members[1])
    ids: list[int] = []
    for n in range(count):
        posted = await post_message(client, org.members[0], chat["id"], f"@@accountant #{n}")
        ids += posted["ai_message_ids"]
    return chat["id"], ids


async def test_capacity_is_global_and_a_light_org_is_not_starved(make_settings) -> None:  # type: ignore[no-untyped-def]
    slow = Reply.text("ответ", delay=0.15)
    async with fleet(make_settings, dict.fromkeys(CAPACITIES, slow)) as (servers, client, _):
        api = Api(client, SYSTEM_ADMIN_PASSWORD)
        heavy, light = await api.create_org(members=2), await api.create_org(members=2)
        heavy_chat, heavy_ids = await _ask_many(client, heavy, 60)
        light_chat, light_ids = await _ask_many(client, light, 1)

        async def light_done() -> bool:
            return (await _status(client, light, light_chat, light_ids)) == ["done"]

        await wait_for(light_done, timeout=30, message="the light org's answer")
        waiting = await _status(client, heavy, heavy_chat, heavy_ids)
        assert waiting.count("done") < 40, "the light org's question jumped the heavy backlog"

        async def heavy_done() -> bool:
            return all(s == "done" for s in await _status(client, heavy, heavy_chat, heavy_ids))

        await wait_for(heavy_done, timeout=60, message="all heavy answers")
        for name, server in servers.items():
            assert server.max_in_flight <= CAPACITIES[name], (name, server.max_in_flight)
        assert servers["fleet-big"].max_in_flight > 1
        asked = [
            r
            for s in servers.values()
            for r in s.requests
            if "@@accountant #" in json.dumps(r.body, ensure_ascii=False)
        ]
        assert len(asked) == 61, "every answer asked the model exactly once"


async def test_a_failing_server_is_ejected_and_its_answers_move(make_settings) -> None:  # type: ignore[no-untyped-def]
    ok = Reply.text("ответ", delay=0.3)  # slow enough that the failing one is tried 3+ times
    failing = Reply.http_error(500, delay=0.3)
    replies = {"fleet-small": ok, "fleet-mid": failing, "fleet-big": ok}
    # the 500 server lists its models: health probes passing between its failed answers
    # (every 0.2 s, each failure 0.3 s) must not wipe its run of failures
    probing = {"ai_backend_health_interval_seconds": 0.2}
    async with fleet(make_settings, replies, **probing) as (_servers, client, workers):
        api = Api(client, SYSTEM_ADMIN_PASSWORD)
        org = await api.create_org(members=2)
        chat_id, ids = await _ask_many(client, org, 20)

        async def settled() -> list[str] | None:
            statuses = await _status(client, org, chat_id, ids)
            return statuses if all(s in ("done", "failed") for s in statuses) else None

        statuses = await wait_for(settled, timeout=60, message="all answers settled")
        assert statuses == ["done"] * 20
        states = {b.name: b for b in await workers[0].storages.ai_queue.backend_states()}
        assert states["fleet-mid"].ejected and "500" in (states["fleet-mid"].last_error or "")
        health = (await client.get("/api/v1/health")).json()
        listed = {b["name"]: b for b in health["llm_backends"]}
        assert listed["fleet-mid"]["state"] == "ejected"
        assert listed["fleet-big"]["state"] == "healthy"


async def test_a_server_killed_mid_answer_and_one_failing_leave_the_answers_to_the_healthy_one(
    make_settings: Callable[..., Settings],
) -> None:
    """The biggest server dies while typing four answers and another answers 500: every
    answer is asked again on the healthy one and stored once, whole; both are ejected."""
    ok = Reply.text("ответ", delay=0.05)
    typing = Reply.text("недописанный ответ " + "слово " * 40, pace=0.1)
    replies = {"fleet-small": ok, "fleet-mid": Reply.http_error(500), "fleet-big": typing}
    async with fleet(make_settings, replies) as (servers, client, _workers):
        big = servers["fleet-big"]
        api = Api(client, SYSTEM_ADMIN_PASSWORD)
        org = await api.create_org(members=2)
        chat_id, ids = await _ask_many(client, org, 20)
        await wait_for(lambda: big.in_flight == 4 and len(big.sent_pieces) >= 8, timeout=30)
        cut = [_question(r.last_user_text) for r in big.requests]
        await big.kill()

        async def settled() -> list[str] | None:
            statuses = await _status(client, org, chat_id, ids)
            return statuses if all(s in ("done", "failed") for s in statuses) else None

        assert await wait_for(settled, timeout=60, message="answers settled") == ["done"] * 20
        listed = await client.get(
            f"/api/v1/chats/{chat_id}/messages?limit=200", headers=org.members[0].headers
        )
        answers = [m for m in listed.json()["items"] if m["id"] in ids]
        assert sorted(m["id"] for m in answers) == sorted(ids)
        assert {m["content"] for m in answers} == {"ответ"}, "a cut answer's words were kept"
        healthy = [_question(r.last_user_text) for r in servers["fleet-small"].requests]
        assert sorted(healthy) == sorted(f"@@accountant #{n}" for n in range(20))
        assert len(cut) == 4 and set(cut) <= set(healthy)
        assert servers["fleet-small"].max_in_flight == 1
        health = (await client.get("/api/v1/health")).json()
        states = {b["name"]: b["state"] for b in health["llm_backends"]}
        assert states == {"fleet-small": "healthy", "fleet-mid": "ejected", "fleet-big": "ejected"}


async def test_answers_cut_by_a_dead_server_go_before_the_questions_still_queued(
    make_settings: Callable[..., Settings],
) -> None:
    """The big server dies while typing four answers with questions still queued: those
    four are asked again at the next free slots of the others, not after the queue."""
    ok = Reply.text("ответ", delay=0.5)  # a healthy slot frees twice a second at most
    typing = Reply.text("недописанный ответ " + "слово " * 40, pace=0.1)
    replies = {"fleet-small": ok, "fleet-mid": ok, "fleet-big": typing}
    async with fleet(make_settings, replies) as (servers, client, _workers):
        big, healthy = servers["fleet-big"], [servers["fleet-small"], servers["fleet-mid"]]
        api = Api(client, SYSTEM_ADMIN_PASSWORD)
        org = await api.create_org(members=2)
        chat_id, ids = await _ask_many(client, org, 30)
        await wait_for(lambda: big.in_flight == 4 and len(big.sent_pieces) >= 4, timeout=30)
        cut = {_question(r.last_user_text) for r in big.requests}
        killed_at = time.monotonic()
        await big.kill()

        async def settled() -> list[str] | None:
            statuses = await _status(client, org, chat_id, ids)
            return statuses if all(s in ("done", "failed") for s in statuses) else None

        assert await wait_for(settled, timeout=60, message="answers settled") == ["done"] * 30
        after = sorted(
            (r for server in healthy for r in server.requests if r.received_at > killed_at),
            key=lambda r: r.received_at,
        )
        asked_after = [_question(r.last_user_text) for r in after]
        assert len(asked_after) > 10, "questions were still queued when the server died"
        # the slots freed after the kill go to the four cut answers first; each of the 3
        # healthy slots may have taken one question before the failures were on record
        assert cut <= set(asked_after[: len(cut) + 3]), (sorted(cut), asked_after)


async def test_one_worker_hands_a_freed_slot_to_the_next_answer_without_a_poll(  # type: ignore[no-untyped-def]
    make_settings, llm
) -> None:
    """A slot freed by a finished answer is claimed again at once, not at the next poll."""
    llm.set_default(Reply.text("ответ", delay=0.02))
    backend = {
        "name": "single-slot",
        "provider": "ollama",
        "base_url": llm.ollama_base_url,
        "model": "qwen2.5:7b",
        "capacity": 1,
    }
    settings = make_settings(
        llm_backends=[backend], ai_recovery_enabled=True, ai_poll_interval_seconds=60
    )
    async with running_app(settings) as (_app, client):
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        chat_id, ids = await _ask_many(client, org, 12)

        async def all_done() -> bool:
            return all(s == "done" for s in await _status(client, org, chat_id, ids))

        await wait_for(all_done, timeout=20, message="twelve answers through one slot")
