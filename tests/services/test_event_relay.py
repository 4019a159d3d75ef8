"""Two engine processes on one database: an SSE subscriber of one sees the other's messages."""

from __future__ import annotations

import asyncio
import shutil
from uuid import UUID

from tests.conftest import SYSTEM_ADMIN_PASSWORD, running_app
from tests.fakes.waiting import wait_for
from tests.support.api import Api, create_chat, post_message


async def test_events_cross_processes(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with (
        running_app(make_settings()) as (app_a, client_a),
        running_app(make_settings()) as (app_b, client_b),
    ):
        engine_a, engine_b = app_a.state.engine, app_b.state.engine
        await wait_for(lambda: engine_a.relay.connected.is_set(), timeout=5)
        await wait_for(lambda: engine_b.relay.connected.is_set(), timeout=5)
        org = await Api(client_a, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        alice, bob = org.members
        chat = await create_chat(client_a, alice, bob)
        async with engine_a.bus.subscribe(UUID(chat["id"])) as queue:
            posted = await post_message(client_b, bob, chat["id"], "через другой процесс")
            async with asyncio.timeout(5):
                event = await queue.get()
        assert event.type == "message.created"
        assert event.message is not None and event.message.id == posted["message"]["id"]
        assert event.message.content == "через другой процесс"
        # a process does not get its own events twice
        async with engine_a.bus.subscribe(UUID(chat["id"])) as queue:
            await post_message(client_a, alice, chat["id"], "свой процесс")
            async with asyncio.timeout(5):
                first = await queue.get()
            assert first.message is not None and first.message.content == "свой процесс"
            await post_message(client_b, bob, chat["id"], "маркер")
            async with asyncio.timeout(5):
                second = await queue.get()
            assert second.message is not None and second.message.content == "маркер"


async def test_events_of_one_burst_go_out_in_one_statement_in_order(make_settings) -> None:  # type: ignore[no-untyped-def]
    from engine.services.chats.events import ChatEvent

    async with (
        running_app(make_settings()) as (app_a, _),
        running_app(make_settings()) as (app_b, _),
    ):
        engine_a, engine_b = app_a.state.engine, app_b.state.engine
        await wait_for(lambda: engine_a.relay.connected.is_set(), timeout=5)
        await wait_for(lambda: engine_b.relay.connected.is_set(), timeout=5)
        chat_id = UUID(int=7)
        statements: list[str] = []
        real_pool = engine_a.relay.notifier

        class CountingPool:
            async def execute(self, query: str, *args: object) -> str:
                statements.append(query)
                return await real_pool.execute(query, *args)

        engine_a.relay.notifier = CountingPool()
        try:
            async with engine_b.bus.subscribe(chat_id) as queue:
                for index in range(20):
                    engine_a.bus.publish(chat_id, ChatEvent("message.status", {"n": index}))
                async with asyncio.timeout(5):
                    received = [(await queue.get()).data["n"] for _ in range(20)]
        finally:
            engine_a.relay.notifier = real_pool
        assert received == list(range(20))
        assert len(statements) <= 2, statements


async def test_proposal_events_cross_processes_whatever_their_size(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Only the proposal's id travels through NOTIFY (limited to 8000 bytes); the other
    process loads the proposal, so a large one arrives whole."""
    from engine.models.proposal import PlannedWrite

    async with (
        running_app(make_settings()) as (app_a, client_a),
        running_app(make_settings()) as (app_b, client_b),
    ):
        engine_a, engine_b = app_a.state.engine, app_b.state.engine
        await wait_for(lambda: engine_a.relay.connected.is_set(), timeout=5)
        await wait_for(lambda: engine_b.relay.connected.is_set(), timeout=5)
        org = await Api(client_a, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        alice, bob = org.members
        chat = await create_chat(client_a, alice, bob)
        posted = await post_message(client_a, alice, chat["id"], "вопрос")
        description = "очень длинное описание " * 400  # about 17 KB in UTF-8
        proposal = await engine_b.storages.proposals.insert(
            UUID(org.id),
            PlannedWrite(
                tool="calendar",
                action="create",
                target_type="calendar_event",
                target_id=None,
                target_version=None,
                payload={"event": {"title": "Т", "description": description}},
                summary="создать событие",
            ),
            role_code="accountant",
            requested_by=UUID(alice.id),
            chat_id=UUID(chat["id"]),
            message_id=posted["message"]["id"],
            calendar_run_id=None,
        )
        async with engine_a.bus.subscribe(UUID(chat["id"])) as queue:
            rejected = await client_b.post(
                f"/api/v1/chats/{chat['id']}/proposals/{proposal.id}/reject", headers=bob.headers
            )
            assert rejected.status_code == 200, rejected.text
            async with asyncio.timeout(5):
                event = await queue.get()
        assert event.type == "proposal.updated"
        assert event.data["id"] == str(proposal.id) and event.data["status"] == "rejected"
        assert event.data["payload"]["event"]["description"] == description


async def test_a_prompt_cache_clear_reaches_every_process(make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.config import PACKAGE_DIR

    prompts = tmp_path / "prompts"
    shutil.copytree(PACKAGE_DIR / "prompts", prompts)
    async with (
        running_app(make_settings(prompt_dir=prompts)) as (app_a, client_a),
        running_app(make_settings(prompt_dir=prompts)) as (app_b, _),
    ):
        engine_a, engine_b = app_a.state.engine, app_b.state.engine
        await wait_for(lambda: engine_a.relay.connected.is_set(), timeout=5)
        await wait_for(lambda: engine_b.relay.connected.is_set(), timeout=5)
        old = engine_b.prompts.get("accountant.md")
        (prompts / "accountant.md").write_text("Новый промпт бухгалтера.", encoding="utf-8")
        assert engine_b.prompts.get("accountant.md") == old  # cached

        org = await Api(client_a, SYSTEM_ADMIN_PASSWORD).create_org(members=0)
        cleared = await client_a.post("/api/v1/roles/admin/cache/clear", headers=org.admin.headers)
        assert cleared.status_code == 200, cleared.text
        await wait_for(lambda: engine_b.prompts.size == 0, timeout=5)
        assert engine_b.prompts.get("accountant.md") == "Новый промпт бухгалтера."


async def test_a_deactivation_on_one_process_is_refused_at_once_by_another(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Process B remembers both tokens as verified; a deactivation through A refuses the next
    request through B, because the memo only spares the signature check and every request
    reads the user's and the organization's state from the database."""
    async with (
        running_app(make_settings()) as (app_a, client_a),
        running_app(make_settings()) as (_, client_b),
    ):
        await wait_for(lambda: app_a.state.engine.relay.connected.is_set(), timeout=5)
        org = await Api(client_a, SYSTEM_ADMIN_PASSWORD).create_org(members=2)
        alice, bob = org.members
        # process B has verified (and remembered) both tokens
        for member in (alice, bob):
            assert (
                await client_b.get("/api/v1/auth/me", headers=member.headers)
            ).status_code == 200
        off = await client_a.post(f"/api/v1/users/{alice.id}/deactivate", headers=org.admin.headers)
        assert off.status_code == 200, off.text
        refused = await client_b.get("/api/v1/auth/me", headers=alice.headers)
        assert refused.status_code == 401, refused.text
        assert (await client_b.get("/api/v1/auth/me", headers=bob.headers)).status_code == 200

        org_off = await client_a.patch(
            f"/api/v1/organizations/{org.id}",
            headers=(await Api(client_a, SYSTEM_ADMIN_PASSWORD).system_admin()).headers,
            json={"is_active": False},
        )
        assert org_off.status_code == 200, org_off.text
        assert (await client_b.get("/api/v1/auth/me", headers=bob.headers)).status_code == 401


async def test_a_process_whose_listener_was_lost_clears_its_prompt_cache_on_reconnecting(
    make_settings, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """A clear sent while its listening connection was down never reaches a process."""
    import asyncpg

    async with running_app(make_settings()) as (app, _):
        engine = app.state.engine
        await wait_for(lambda: engine.relay.connected.is_set(), timeout=5)
        engine.prompts.get("accountant.md")
        assert engine.prompts.size == 1
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", engine.relay.listener_pid)
        finally:
            await conn.close()
        await wait_for(lambda: not engine.relay.connected.is_set(), timeout=5)
        await wait_for(lambda: engine.relay.connected.is_set(), timeout=10)
        assert engine.prompts.size == 0


def _shown_text(events: list[dict[str, object]]) -> str:
    """What a client shows after these `ai.token` events: `reset` starts over."""
    text = ""
    for data in events:
        text = ("" if data.get("reset") else text) + str(data["delta"])
    return text


async def test_streamed_pieces_cross_processes_gathered_and_before_the_answer(  # type: ignore[no-untyped-def]
    make_settings,
) -> None:
    from engine.services.chats.events import ChatEvent, EventType

    async with (
        running_app(make_settings()) as (app_a, _),
        running_app(make_settings()) as (app_b, _),
    ):
        engine_a, engine_b = app_a.state.engine, app_b.state.engine
        await wait_for(lambda: engine_a.relay.connected.is_set(), timeout=5)
        await wait_for(lambda: engine_b.relay.connected.is_set(), timeout=5)
        chat_id = UUID(int=11)
        first_try = ["Обры", "в"]
        answer = ["Согласно ", "статье ", *(["ГК РФ, договор действует. "] * 200)]  # > 8000 B
        async with engine_b.bus.subscribe(chat_id) as queue:
            for index, delta in enumerate(first_try + answer):
                reset = index in (0, len(first_try))
                data = {"message_id": 5, "delta": delta} | ({"reset": True} if reset else {})
                engine_a.bus.publish(chat_id, ChatEvent(EventType.AI_TOKEN, data))
            engine_a.bus.publish(chat_id, ChatEvent(EventType.MESSAGE_STATUS, {"id": 5}))
            received = []
            async with asyncio.timeout(5):
                while (event := await queue.get()).type == EventType.AI_TOKEN:
                    received.append(event.data)
        assert event.type == EventType.MESSAGE_STATUS  # after every piece
        assert _shown_text(received) == "".join(answer)
        assert len(received) < len(first_try + answer) / 10  # gathered, not one per piece


async def test_an_answer_made_by_a_worker_streams_to_a_replicas_subscriber(  # type: ignore[no-untyped-def]
    make_settings, llm
) -> None:
    from tests.fakes.llm_server import Reply

    reply = "Суточные по России — 700 рублей в день без НДФЛ."
    llm.set_default(Reply.text(reply))
    common = {
        "llm_base_url": llm.ollama_base_url,
        "ai_recovery_enabled": True,
        "ai_poll_interval_seconds": 0.2,
    }
    async with (
        running_app(make_settings(**common)) as (app_worker, _),
        running_app(make_settings(ai_worker_enabled=False, **common)) as (app_replica, client),
    ):
        replica = app_replica.state.engine
        await wait_for(lambda: app_worker.state.engine.relay.connected.is_set(), timeout=5)
        await wait_for(lambda: replica.relay.connected.is_set(), timeout=5)
        org = await Api(client, SYSTEM_ADMIN_PASSWORD).create_org(members=1)
        alice = org.members[0]
        chat = await create_chat(client, alice)
        tokens: list[dict[str, object]] = []
        async with replica.bus.subscribe(UUID(chat["id"])) as queue:
            await post_message(client, alice, chat["id"], "@@accountant какие суточные?")
            async with asyncio.timeout(20):
                while True:
                    event = await queue.get()
                    if event.type == "ai.token":
                        tokens.append(event.data)
                    elif event.message is not None and event.message.ai_status == "done":
                        break
        assert tokens and tokens[0].get("reset") is True
        assert _shown_text(tokens) == reply == event.message.content
